;; Loops of the BatchNorm kernels (src/kernels/batchNorm/core.ts) with 128-bit SIMD, run in place on the wasm
;; backend's heap (the module imports tfjs's own memory). Every value is computed as in the JS loops — float32
;; inputs widened to float64, float64 arithmetic in the same order, float32 where they store — so both give the
;; same bits; per channel the sums run over the rows in the same order. Rows are `c` float32 channels, c a multiple
;; of 4; `n` is the number of rows. Two binaries are built from this text (src/kernels/batchNorm/simd.ts): as it
;; is, and with a shared memory for tfjs's multithreaded build (`node wasm/embed.mjs` in packages/core).
(module
  (import "env" "memory" (memory 1))

  ;; s[k] = Σ_rows (x − K[k]), q[k] = Σ_rows (x − K[k])², K = the first row (float64 sums, zeroed here)
  (func (export "moments") (param $x i32) (param $n i32) (param $c i32) (param $s i32) (param $q i32)
    (local $row i32) (local $end i32) (local $p i32) (local $k i32) (local $a i32) (local $d v128)
    (local.set $k (i32.shl (local.get $c) (i32.const 3)))
    (memory.fill (local.get $s) (i32.const 0) (local.get $k))
    (memory.fill (local.get $q) (i32.const 0) (local.get $k))
    (local.set $row (local.get $x))
    (local.set $end (i32.add (local.get $x) (i32.mul (i32.mul (local.get $n) (local.get $c)) (i32.const 4))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $row) (local.get $end)))
        (local.set $k (i32.const 0))
        (loop $pairs
          ;; channels k, k+1: x at row + 4k, K at x + 4k, sums at 8k
          (local.set $p (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 2))))
          (local.set $a (i32.shl (local.get $k) (i32.const 3)))
          (local.set $d (f64x2.sub
            (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p)))
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2)))))))
          (v128.store (i32.add (local.get $s) (local.get $a))
            (f64x2.add (v128.load (i32.add (local.get $s) (local.get $a))) (local.get $d)))
          (v128.store (i32.add (local.get $q) (local.get $a))
            (f64x2.add (v128.load (i32.add (local.get $q) (local.get $a))) (f64x2.mul (local.get $d) (local.get $d))))
          (local.set $k (i32.add (local.get $k) (i32.const 2)))
          (br_if $pairs (i32.lt_u (local.get $k) (local.get $c))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
        (br $rows))))

  ;; out = u·a[k] + d[k] (mode 0), max(0, ·) written (r + |r|)/2 (mode 1), or u·a[k] + v·b[k] + d[k] (mode 2);
  ;; a, b, d: float32 per channel; out may be u
  (func (export "affine")
    (param $u i32) (param $v i32) (param $n i32) (param $c i32) (param $out i32) (param $a i32) (param $b i32)
    (param $d i32) (param $mode i32)
    (local $i i32) (local $end i32) (local $k i32) (local $o i32) (local $r v128)
    (local.set $end (i32.shl (i32.mul (local.get $n) (local.get $c)) (i32.const 2)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $k (i32.const 0))
        (loop $pairs
          (local.set $o (i32.add (local.get $i) (local.get $k)))
          (local.set $r (f64x2.mul
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $u) (local.get $o))))
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $a) (local.get $k))))))
          (if (i32.eq (local.get $mode) (i32.const 2))
            (then
              (local.set $r (f64x2.add (local.get $r) (f64x2.mul
                (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $v) (local.get $o))))
                (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $b) (local.get $k)))))))))
          (local.set $r (f64x2.add (local.get $r)
            (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $d) (local.get $k))))))
          (if (i32.eq (local.get $mode) (i32.const 1))
            (then
              (local.set $r (f64x2.mul (f64x2.add (local.get $r) (f64x2.abs (local.get $r)))
                (f64x2.splat (f64.const 0.5))))))
          (v128.store64_lane 0 (i32.add (local.get $out) (local.get $o)) (f32x4.demote_f64x2_zero (local.get $r)))
          (local.set $k (i32.add (local.get $k) (i32.const 8)))
          (br_if $pairs (i32.lt_u (local.get $k) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.shl (local.get $c) (i32.const 2))))
        (br $rows))))

  ;; sdy[k] = Σ_rows g, sdyx[k] = Σ_rows g·(x − μ[k]) (float64, zeroed here), g = dy, or with `masked`
  ;; g = dy·[y > 0] (a product with 1 or 0, as the JS loop), then also stored to `g`
  (func (export "gradSums")
    (param $dy i32) (param $y i32) (param $masked i32) (param $x i32) (param $mu i32) (param $n i32) (param $c i32)
    (param $g i32) (param $sdy i32) (param $sdyx i32)
    (local $i i32) (local $end i32) (local $k i32) (local $o i32) (local $a i32) (local $gv v128)
    (local.set $k (i32.shl (local.get $c) (i32.const 3)))
    (memory.fill (local.get $sdy) (i32.const 0) (local.get $k))
    (memory.fill (local.get $sdyx) (i32.const 0) (local.get $k))
    (local.set $end (i32.shl (i32.mul (local.get $n) (local.get $c)) (i32.const 2)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $k (i32.const 0))
        (loop $pairs
          (local.set $o (i32.add (local.get $i) (local.get $k)))
          (local.set $a (i32.shl (local.get $k) (i32.const 1)))
          (local.set $gv (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $dy) (local.get $o)))))
          (if (local.get $masked)
            (then
              (local.set $gv (f64x2.mul (local.get $gv)
                (f64x2.convert_low_i32x4_s (i32x4.neg
                  (f32x4.gt (v128.load64_zero (i32.add (local.get $y) (local.get $o))) (f32x4.splat (f32.const 0)))))))
              (v128.store64_lane 0 (i32.add (local.get $g) (local.get $o)) (f32x4.demote_f64x2_zero (local.get $gv)))))
          (v128.store (i32.add (local.get $sdy) (local.get $a))
            (f64x2.add (v128.load (i32.add (local.get $sdy) (local.get $a))) (local.get $gv)))
          (v128.store (i32.add (local.get $sdyx) (local.get $a))
            (f64x2.add (v128.load (i32.add (local.get $sdyx) (local.get $a)))
              (f64x2.mul (local.get $gv)
                (f64x2.sub
                  (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $o))))
                  (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $mu) (local.get $k))))))))
          (local.set $k (i32.add (local.get $k) (i32.const 8)))
          (br_if $pairs (i32.lt_u (local.get $k) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.shl (local.get $c) (i32.const 2))))
        (br $rows)))))
