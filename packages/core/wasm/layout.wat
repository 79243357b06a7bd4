;; Layout copies of the wasm kernels (src/kernels/wasm/conv2dBackpropFilter.ts) with 128-bit SIMD, run in place on
;; the wasm backend's heap (the module imports tfjs's own memory; a second build with a shared memory serves its
;; multithreaded binary — `node wasm/embed.mjs` in packages/core).
(module
  (import "env" "memory" (memory 1))

  ;; xt[c·cStride + b·plane + (y + pt)·wp + pl + x] = x[((b·h + y)·w + x)·ci + c] for b < n, y < yEnd, x < xEnd,
  ;; c < ci (a multiple of 4): NHWC x to channel-major, zero-padded planes (the padding is not written). Blocks of
  ;; 4 pixels × 4 channels are transposed in registers; the last xEnd mod 4 pixels of a row one at a time.
  ;; Indices are in floats; x and xt are byte addresses.
  (func (export "toChannelMajor")
    (param $x i32) (param $xt i32) (param $n i32) (param $h i32) (param $w i32) (param $ci i32)
    (param $plane i32) (param $wp i32) (param $pt i32) (param $pl i32) (param $yEnd i32) (param $xEnd i32)
    (local $cStride i32) (local $b i32) (local $y i32) (local $xx i32) (local $c i32) (local $src i32)
    (local $dst i32) (local $p i32) (local $q i32) (local $rowBytes i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $lo01 v128) (local $hi01 v128)
    (local $lo23 v128) (local $hi23 v128)
    (local.set $cStride (i32.shl (i32.mul (local.get $n) (local.get $plane)) (i32.const 2)))
    (local.set $rowBytes (i32.shl (local.get $ci) (i32.const 2)))
    (block $b_done
      (loop $b_loop
        (br_if $b_done (i32.ge_u (local.get $b) (local.get $n)))
        (local.set $y (i32.const 0))
        (block $y_done
          (loop $y_loop
            (br_if $y_done (i32.ge_u (local.get $y) (local.get $yEnd)))
            ;; byte addresses of the row's first pixel in x and of its first destination in channel 0's plane
            (local.set $src (i32.add (local.get $x)
              (i32.shl (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y)) (local.get $w))
                (local.get $ci)) (i32.const 2))))
            (local.set $dst (i32.add (local.get $xt)
              (i32.shl (i32.add (i32.add (i32.mul (local.get $b) (local.get $plane))
                (i32.mul (i32.add (local.get $y) (local.get $pt)) (local.get $wp))) (local.get $pl)) (i32.const 2))))
            (local.set $xx (i32.const 0))
            (block $x4_done
              (loop $x4_loop
                (br_if $x4_done (i32.gt_u (i32.add (local.get $xx) (i32.const 4)) (local.get $xEnd)))
                (local.set $c (i32.const 0))
                (local.set $p (i32.add (local.get $src) (i32.mul (local.get $xx) (local.get $rowBytes))))
                (local.set $q (i32.add (local.get $dst) (i32.shl (local.get $xx) (i32.const 2))))
                (loop $c_loop
                  (local.set $r0 (v128.load (local.get $p)))
                  (local.set $r1 (v128.load (i32.add (local.get $p) (local.get $rowBytes))))
                  (local.set $r2 (v128.load (i32.add (local.get $p) (i32.shl (local.get $rowBytes) (i32.const 1)))))
                  (local.set $r3 (v128.load (i32.add (local.get $p) (i32.mul (local.get $rowBytes) (i32.const 3)))))
                  ;; [a0 b0 a1 b1], [a2 b2 a3 b3], [c0 d0 c1 d1], [c2 d2 c3 d3]
                  (local.set $lo01 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
                  (local.set $hi01 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
                  (local.set $lo23 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
                  (local.set $hi23 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
                  ;; channel c + k: [ak bk ck dk]
                  (v128.store (local.get $q)
                    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo01) (local.get $lo23)))
                  (v128.store (i32.add (local.get $q) (local.get $cStride))
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $lo01) (local.get $lo23)))
                  (v128.store (i32.add (local.get $q) (i32.shl (local.get $cStride) (i32.const 1)))
                    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hi01) (local.get $hi23)))
                  (v128.store (i32.add (local.get $q) (i32.mul (local.get $cStride) (i32.const 3)))
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hi01) (local.get $hi23)))
                  (local.set $p (i32.add (local.get $p) (i32.const 16)))
                  (local.set $q (i32.add (local.get $q) (i32.shl (local.get $cStride) (i32.const 2))))
                  (local.set $c (i32.add (local.get $c) (i32.const 4)))
                  (br_if $c_loop (i32.lt_u (local.get $c) (local.get $ci))))
                (local.set $xx (i32.add (local.get $xx) (i32.const 4)))
                (br $x4_loop)))
            ;; the row's last pixels
            (block $x1_done
              (loop $x1_loop
                (br_if $x1_done (i32.ge_u (local.get $xx) (local.get $xEnd)))
                (local.set $p (i32.add (local.get $src) (i32.mul (local.get $xx) (local.get $rowBytes))))
                (local.set $q (i32.add (local.get $dst) (i32.shl (local.get $xx) (i32.const 2))))
                (local.set $c (i32.const 0))
                (loop $c1_loop
                  (i32.store (local.get $q) (i32.load (local.get $p)))
                  (local.set $p (i32.add (local.get $p) (i32.const 4)))
                  (local.set $q (i32.add (local.get $q) (local.get $cStride)))
                  (local.set $c (i32.add (local.get $c) (i32.const 1)))
                  (br_if $c1_loop (i32.lt_u (local.get $c) (local.get $ci))))
                (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
                (br $x1_loop)))
            (local.set $y (i32.add (local.get $y) (i32.const 1)))
            (br $y_loop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $b_loop))))

  ;; The transposed im2col of the stride-1 filter gradient from channel-major, padded x (xt: ci planes of n images of
  ;; `plane` floats, rows of wp): for each tap (i, j), channel c and image b in that order, `runs` runs of `len`
  ;; floats starting at xt[c][b][i·dh·wp + j·dw] and `stride` floats apart, written one after another to cols
  ;; (a v128 at a time, the last floats one by one). xt and cols are byte addresses that do not overlap.
  (func (export "im2colRuns")
    (param $xt i32) (param $cols i32) (param $kh i32) (param $kw i32) (param $ci i32) (param $n i32)
    (param $plane i32) (param $wp i32) (param $dh i32) (param $dw i32) (param $runs i32) (param $len i32)
    (param $stride i32)
    (local $i i32) (local $j i32) (local $cb i32) (local $r i32) (local $tap i32) (local $src i32) (local $p i32)
    (local $end i32) (local $bytes i32) (local $dst i32)
    (local.set $dst (local.get $cols))
    (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
    (block $i_done
      (loop $i_loop
        (br_if $i_done (i32.ge_u (local.get $i) (local.get $kh)))
        (local.set $j (i32.const 0))
        (block $j_done
          (loop $j_loop
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $kw)))
            ;; the tap's offset in a plane, in bytes
            (local.set $tap (i32.shl (i32.add (i32.mul (i32.mul (local.get $i) (local.get $dh)) (local.get $wp))
              (i32.mul (local.get $j) (local.get $dw))) (i32.const 2)))
            ;; (c, b) in order is plane cb = c·n + b
            (local.set $cb (i32.const 0))
            (block $cb_done
              (loop $cb_loop
                (br_if $cb_done (i32.ge_u (local.get $cb) (i32.mul (local.get $ci) (local.get $n))))
                (local.set $src (i32.add (local.get $xt)
                  (i32.add (i32.shl (i32.mul (local.get $cb) (local.get $plane)) (i32.const 2)) (local.get $tap))))
                (local.set $r (i32.const 0))
                (block $r_done
                  (loop $r_loop
                    (br_if $r_done (i32.ge_u (local.get $r) (local.get $runs)))
                    (local.set $p (local.get $src))
                    (local.set $end (i32.add (local.get $src) (local.get $bytes)))
                    (block $v_done
                      (loop $v_loop
                        (br_if $v_done (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
                        (v128.store (local.get $dst) (v128.load (local.get $p)))
                        (local.set $p (i32.add (local.get $p) (i32.const 16)))
                        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                        (br $v_loop)))
                    (block $s_done
                      (loop $s_loop
                        (br_if $s_done (i32.ge_u (local.get $p) (local.get $end)))
                        (i32.store (local.get $dst) (i32.load (local.get $p)))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                        (br $s_loop)))
                    (local.set $src (i32.add (local.get $src) (i32.shl (local.get $stride) (i32.const 2))))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $r_loop)))
                (local.set $cb (i32.add (local.get $cb) (i32.const 1)))
                (br $cb_loop)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $j_loop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $i_loop))))

  ;; Strided block copies: for r < rows and v < count, `len` floats from src + r·srcRow + v·srcStep to
  ;; dst + r·dstRow + v·dstStep (strides in floats; src and dst byte addresses of regions that do not overlap), a v128
  ;; at a time and the last floats one by one — the many short copies of the strided input gradient, in one call.
  (func (export "copyBlocks")
    (param $src i32) (param $dst i32) (param $rows i32) (param $srcRow i32) (param $dstRow i32) (param $count i32)
    (param $srcStep i32) (param $dstStep i32) (param $len i32)
    (local $r i32) (local $v i32) (local $s i32) (local $d i32) (local $p i32) (local $q i32) (local $end i32)
    (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
    (block $r_done
      (loop $r_loop
        (br_if $r_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $srcRow)) (i32.const 2))))
        (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $dstRow)) (i32.const 2))))
        (local.set $v (i32.const 0))
        (block $v_done
          (loop $v_loop
            (br_if $v_done (i32.ge_u (local.get $v) (local.get $count)))
            (local.set $p (local.get $s))
            (local.set $q (local.get $d))
            (local.set $end (i32.add (local.get $s) (local.get $bytes)))
            (block $w_done
              (loop $w_loop
                (br_if $w_done (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
                (v128.store (local.get $q) (v128.load (local.get $p)))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (local.set $q (i32.add (local.get $q) (i32.const 16)))
                (br $w_loop)))
            (block $e_done
              (loop $e_loop
                (br_if $e_done (i32.ge_u (local.get $p) (local.get $end)))
                (i32.store (local.get $q) (i32.load (local.get $p)))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (local.set $q (i32.add (local.get $q) (i32.const 4)))
                (br $e_loop)))
            (local.set $s (i32.add (local.get $s) (i32.shl (local.get $srcStep) (i32.const 2))))
            (local.set $d (i32.add (local.get $d) (i32.shl (local.get $dstStep) (i32.const 2))))
            (local.set $v (i32.add (local.get $v) (i32.const 1)))
            (br $v_loop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $r_loop))))
)
