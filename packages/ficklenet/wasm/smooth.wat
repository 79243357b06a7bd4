;; The smoothing of mbdSaliency (saliency.ts, smoothByReconstruction): opening then closing by reconstruction with
;; a (2r+1)² square, on 8-bit levels, for src/saliencyWasm.ts. Compiled with wabt (`npx -y -p wabt@1.0.39 wat2wasm
;; wasm/smooth.wat -o smooth.wasm`) and embedded there as base64.
;;
;; - Erosion: per axis, minima over windows of 1, 2, 4, … D samples by doubling (m2d[x] = min(md[x], md[x + d])), then
;;   the window of k = 2r+1 as min(mD[x], mD[x + k − D]) with D the largest power of two ≤ k: 16 pixels per
;;   instruction, log2(k) + 1 of them per pixel and axis. Windows are clipped at the border (padding of 255, the
;;   identity of min).
;; - Reconstruction by dilation under a mask, 8-connected: Vincent's hybrid algorithm (raster and anti-raster sweeps,
;;   then a FIFO). In each sweep the neighbours on the previous row are combined 16 at a time and only the chain
;;   along the row runs pixel by pixel. A pixel waits in the FIFO at most once at a time (a flag per pixel), so the
;;   queue never holds more than the image. The reconstruction is the unique fixed point, so the result equals the
;;   JS loops' whatever the order of the work.
;;
;; Layout (byte addresses in the imported memory), pw = w + 2, ph = h + 2, S = w rounded up to 16:
;;   g:     pw·ph + 32, the level plane with a border of 0 (input and output)
;;   f:     pw·ph + 32, the marker, border 0
;;   flag:  pw·ph
;;   t, lo: w + 64 each (row temporaries)
;;   row:   w + 2r + k + 64 (the horizontal erosion's line)
;;   v:     (h + 2r)·S + 16 (the vertical erosion's columns)
;;   q:     4·pw·ph (the FIFO)
;; Needs w ≥ 16 (the last block of a row is shifted left to end at the row's end).
(module
  (import "env" "memory" (memory 1))

  ;; f's interior ← the erosion of g's interior by a (2r+1)² square
  (func $erode
    (param $g i32) (param $f i32) (param $w i32) (param $h i32) (param $r i32) (param $row i32) (param $v i32)
    (local $pw i32) (local $k i32) (local $len i32) (local $s i32) (local $y i32) (local $x i32) (local $d i32)
    (local $dd i32) (local $lines i32) (local $j i32) (local $p i32) (local $last i32)
    (local.set $pw (i32.add (local.get $w) (i32.const 2)))
    (local.set $k (i32.add (i32.shl (local.get $r) (i32.const 1)) (i32.const 1)))
    (local.set $len (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 1))))
    (local.set $s (i32.and (i32.add (local.get $w) (i32.const 15)) (i32.const -16)))
    (local.set $lines (i32.add (local.get $h) (i32.shl (local.get $r) (i32.const 1))))
    (local.set $last (i32.sub (local.get $w) (i32.const 16)))
    ;; D: the largest power of two ≤ k
    (local.set $dd (i32.const 1))
    (block $dd_done
      (loop $dd_loop
        (br_if $dd_done (i32.gt_u (i32.shl (local.get $dd) (i32.const 1)) (local.get $k)))
        (local.set $dd (i32.shl (local.get $dd) (i32.const 1)))
        (br $dd_loop)))
    ;; horizontal: each line of g, padded by r of 255 and followed by slack of 255, into v's row y + r
    (local.set $y (i32.const 0))
    (block $y_done
      (loop $y_loop
        (br_if $y_done (i32.ge_u (local.get $y) (local.get $h)))
        (memory.fill (local.get $row) (i32.const 255) (local.get $r))
        (memory.copy (i32.add (local.get $row) (local.get $r))
          (i32.add (local.get $g) (i32.add (i32.mul (i32.add (local.get $y) (i32.const 1)) (local.get $pw)) (i32.const 1)))
          (local.get $w))
        (memory.fill (i32.add (local.get $row) (i32.add (local.get $r) (local.get $w))) (i32.const 255)
          (i32.add (i32.add (local.get $r) (local.get $k)) (i32.const 64)))
        (local.set $d (i32.const 1))
        (block $d_done
          (loop $d_loop
            (br_if $d_done (i32.ge_u (local.get $d) (local.get $dd)))
            (local.set $x (i32.const 0))
            (loop $x_loop
              (local.set $p (i32.add (local.get $row) (local.get $x)))
              (v128.store (local.get $p)
                (i8x16.min_u (v128.load (local.get $p)) (v128.load (i32.add (local.get $p) (local.get $d)))))
              (local.set $x (i32.add (local.get $x) (i32.const 16)))
              (br_if $x_loop (i32.lt_u (local.get $x) (local.get $len))))
            (local.set $d (i32.shl (local.get $d) (i32.const 1)))
            (br $d_loop)))
        (local.set $x (i32.const 0))
        (local.set $p (i32.add (local.get $v) (i32.mul (i32.add (local.get $y) (local.get $r)) (local.get $s))))
        (loop $out_loop
          (v128.store (i32.add (local.get $p) (local.get $x))
            (i8x16.min_u (v128.load (i32.add (local.get $row) (local.get $x)))
              (v128.load (i32.add (local.get $row) (i32.add (local.get $x) (i32.sub (local.get $k) (local.get $dd)))))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $out_loop (i32.lt_u (local.get $x) (local.get $w))))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $y_loop)))
    ;; vertical: r rows of 255 above and below, then the same doubling over rows, whole rows at a time
    (memory.fill (local.get $v) (i32.const 255) (i32.mul (local.get $r) (local.get $s)))
    (memory.fill (i32.add (local.get $v) (i32.mul (i32.add (local.get $h) (local.get $r)) (local.get $s)))
      (i32.const 255) (i32.add (i32.mul (local.get $r) (local.get $s)) (i32.const 16)))
    (local.set $d (i32.const 1))
    (block $vd_done
      (loop $vd_loop
        (br_if $vd_done (i32.ge_u (local.get $d) (local.get $dd)))
        (local.set $p (local.get $v))
        (local.set $j (i32.mul (i32.sub (local.get $lines) (local.get $d)) (local.get $s)))
        (local.set $x (i32.const 0))
        (block $vx_done
          (loop $vx_loop
            (br_if $vx_done (i32.ge_u (local.get $x) (local.get $j)))
            (local.set $p (i32.add (local.get $v) (local.get $x)))
            (v128.store (local.get $p)
              (i8x16.min_u (v128.load (local.get $p))
                (v128.load (i32.add (local.get $p) (i32.mul (local.get $d) (local.get $s))))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (br $vx_loop)))
        (local.set $d (i32.shl (local.get $d) (i32.const 1)))
        (br $vd_loop)))
    ;; f's interior: the window of k rows, as two of D
    (local.set $y (i32.const 0))
    (block $fy_done
      (loop $fy_loop
        (br_if $fy_done (i32.ge_u (local.get $y) (local.get $h)))
        (local.set $x (i32.const 0))
        (block $fx_done
          (loop $fx_loop
            (local.set $p (i32.add (local.get $v) (i32.add (i32.mul (local.get $y) (local.get $s)) (local.get $x))))
            (v128.store
              (i32.add (local.get $f)
                (i32.add (i32.mul (i32.add (local.get $y) (i32.const 1)) (local.get $pw)) (i32.add (local.get $x) (i32.const 1))))
              (i8x16.min_u (v128.load (local.get $p))
                (v128.load (i32.add (local.get $p) (i32.mul (i32.sub (local.get $k) (local.get $dd)) (local.get $s))))))
            (br_if $fx_done (i32.eq (local.get $x) (local.get $last)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (if (i32.gt_u (local.get $x) (local.get $last)) (then (local.set $x (local.get $last))))
            (br $fx_loop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $fy_loop))))

  ;; f ← the reconstruction by dilation of the marker f under the mask g (f ≤ g), 8-connected
  (func $reconstruct
    (param $f i32) (param $g i32) (param $flag i32) (param $t i32) (param $lo i32) (param $q i32)
    (param $w i32) (param $h i32)
    (local $pw i32) (local $cap i32) (local $y i32) (local $x i32) (local $row i32) (local $i i32) (local $m i32)
    (local $side i32) (local $gs i32) (local $gi i32) (local $head i32) (local $len i32) (local $p i32)
    (local $v i32) (local $n i32) (local $fq i32) (local $gq i32) (local $nb i32) (local $a i32)
    (local $b i32) (local $c i32) (local $low v128) (local $fb v128)
    (local.set $pw (i32.add (local.get $w) (i32.const 2)))
    (local.set $cap (i32.mul (local.get $pw) (i32.add (local.get $h) (i32.const 2))))
    (memory.fill (local.get $flag) (i32.const 0) (local.get $cap))
    ;; raster sweep: f = min(g, max(f, the left neighbour (this sweep), the three above))
    (local.set $y (i32.const 1))
    (block $fy_done
      (loop $fy_loop
        (br_if $fy_done (i32.gt_u (local.get $y) (local.get $h)))
        (local.set $row (i32.add (local.get $f) (i32.mul (local.get $y) (local.get $pw))))
        (local.set $x (i32.const 1))
        (loop $fv_loop
          (local.set $a (i32.add (local.get $row) (local.get $x)))
          (local.set $b (i32.sub (local.get $a) (local.get $pw)))
          (v128.store (i32.add (local.get $t) (local.get $x))
            (i8x16.max_u
              (i8x16.max_u (v128.load (local.get $a)) (v128.load (i32.sub (local.get $b) (i32.const 1))))
              (i8x16.max_u (v128.load (local.get $b)) (v128.load (i32.add (local.get $b) (i32.const 1))))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $fv_loop (i32.le_u (local.get $x) (local.get $w))))
        (local.set $side (i32.load8_u (local.get $row)))
        (local.set $i (i32.sub (local.get $g) (local.get $f)))
        (local.set $x (i32.const 1))
        (loop $fs_loop
          (local.set $m (i32.load8_u (i32.add (local.get $t) (local.get $x))))
          (if (i32.gt_u (local.get $side) (local.get $m)) (then (local.set $m (local.get $side))))
          (local.set $a (i32.add (local.get $row) (local.get $x)))
          (local.set $gi (i32.load8_u (i32.add (local.get $a) (local.get $i))))
          (if (i32.gt_u (local.get $m) (local.get $gi)) (then (local.set $m (local.get $gi))))
          (i32.store8 (local.get $a) (local.get $m))
          (local.set $side (local.get $m))
          (local.set $x (i32.add (local.get $x) (i32.const 1)))
          (br_if $fs_loop (i32.le_u (local.get $x) (local.get $w))))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $fy_loop)))
    ;; anti-raster sweep, the same through the right neighbour and the three below; a pixel whose new value can
    ;; still raise one of those four (below both the value and its own mask) joins the FIFO
    (local.set $y (local.get $h))
    (block $by_done
      (loop $by_loop
        (br_if $by_done (i32.eqz (local.get $y)))
        (local.set $row (i32.add (local.get $f) (i32.mul (local.get $y) (local.get $pw))))
        (local.set $i (i32.sub (local.get $g) (local.get $f)))
        (local.set $x (i32.const 1))
        (loop $bv_loop
          (local.set $a (i32.add (local.get $row) (local.get $x)))
          (local.set $b (i32.add (local.get $a) (local.get $pw)))
          (v128.store (i32.add (local.get $t) (local.get $x))
            (i8x16.max_u
              (i8x16.max_u (v128.load (local.get $a)) (v128.load (i32.sub (local.get $b) (i32.const 1))))
              (i8x16.max_u (v128.load (local.get $b)) (v128.load (i32.add (local.get $b) (i32.const 1))))))
          ;; lo: the least of the three below that is under its own mask (255: none)
          (local.set $fb (v128.load (i32.sub (local.get $b) (i32.const 1))))
          (local.set $low
            (v128.bitselect (local.get $fb) (i8x16.splat (i32.const 255))
              (i8x16.lt_u (local.get $fb) (v128.load (i32.add (i32.sub (local.get $b) (i32.const 1)) (local.get $i))))))
          (local.set $fb (v128.load (local.get $b)))
          (local.set $low
            (i8x16.min_u (local.get $low)
              (v128.bitselect (local.get $fb) (i8x16.splat (i32.const 255))
                (i8x16.lt_u (local.get $fb) (v128.load (i32.add (local.get $b) (local.get $i)))))))
          (local.set $fb (v128.load (i32.add (local.get $b) (i32.const 1))))
          (local.set $low
            (i8x16.min_u (local.get $low)
              (v128.bitselect (local.get $fb) (i8x16.splat (i32.const 255))
                (i8x16.lt_u (local.get $fb) (v128.load (i32.add (i32.add (local.get $b) (i32.const 1)) (local.get $i)))))))
          (v128.store (i32.add (local.get $lo) (local.get $x)) (local.get $low))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $bv_loop (i32.le_u (local.get $x) (local.get $w))))
        (local.set $a (i32.add (local.get $row) (i32.add (local.get $w) (i32.const 1))))
        (local.set $side (i32.load8_u (local.get $a)))
        (local.set $gs (i32.load8_u (i32.add (local.get $a) (local.get $i))))
        (local.set $x (local.get $w))
        (loop $bs_loop
          (local.set $m (i32.load8_u (i32.add (local.get $t) (local.get $x))))
          (if (i32.gt_u (local.get $side) (local.get $m)) (then (local.set $m (local.get $side))))
          (local.set $a (i32.add (local.get $row) (local.get $x)))
          (local.set $gi (i32.load8_u (i32.add (local.get $a) (local.get $i))))
          (if (i32.gt_u (local.get $m) (local.get $gi)) (then (local.set $m (local.get $gi))))
          (i32.store8 (local.get $a) (local.get $m))
          (if (i32.or
                (i32.lt_u (i32.load8_u (i32.add (local.get $lo) (local.get $x))) (local.get $m))
                (i32.and (i32.lt_u (local.get $side) (local.get $m)) (i32.lt_u (local.get $side) (local.get $gs))))
            (then
              (local.set $p (i32.sub (local.get $a) (local.get $f)))
              (i32.store8 (i32.add (local.get $flag) (local.get $p)) (i32.const 1))
              (i32.store (i32.add (local.get $q) (i32.shl (local.get $len) (i32.const 2))) (local.get $p))
              (local.set $len (i32.add (local.get $len) (i32.const 1)))))
          (local.set $side (local.get $m))
          (local.set $gs (local.get $gi))
          (local.set $x (i32.sub (local.get $x) (i32.const 1)))
          (br_if $bs_loop (local.get $x)))
        (local.set $y (i32.sub (local.get $y) (i32.const 1)))
        (br $by_loop)))
    ;; FIFO (a ring of cap entries; a pixel is in it at most once at a time)
    (local.set $head (i32.const 0))
    (block $q_done
      (loop $q_loop
        (br_if $q_done (i32.eqz (local.get $len)))
        (local.set $p (i32.load (i32.add (local.get $q) (i32.shl (local.get $head) (i32.const 2)))))
        (local.set $head (i32.add (local.get $head) (i32.const 1)))
        (if (i32.eq (local.get $head) (local.get $cap)) (then (local.set $head (i32.const 0))))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (i32.store8 (i32.add (local.get $flag) (local.get $p)) (i32.const 0))
        (local.set $v (i32.load8_u (i32.add (local.get $f) (local.get $p))))
        (local.set $nb (i32.const 0))
        (loop $nb_loop
          ;; the eight neighbours: −1, −pw−1, −pw, −pw+1, +1, +pw+1, +pw, +pw−1
          (local.set $c
            (select (i32.const -1)
              (select (i32.sub (i32.const -1) (local.get $pw))
                (select (i32.sub (i32.const 0) (local.get $pw))
                  (select (i32.sub (i32.const 1) (local.get $pw))
                    (select (i32.const 1)
                      (select (i32.add (local.get $pw) (i32.const 1))
                        (select (local.get $pw) (i32.sub (local.get $pw) (i32.const 1))
                          (i32.eq (local.get $nb) (i32.const 6)))
                        (i32.eq (local.get $nb) (i32.const 5)))
                      (i32.eq (local.get $nb) (i32.const 4)))
                    (i32.eq (local.get $nb) (i32.const 3)))
                  (i32.eq (local.get $nb) (i32.const 2)))
                (i32.eq (local.get $nb) (i32.const 1)))
              (i32.eqz (local.get $nb))))
          (local.set $n (i32.add (local.get $p) (local.get $c)))
          (local.set $fq (i32.load8_u (i32.add (local.get $f) (local.get $n))))
          (if (i32.lt_u (local.get $fq) (local.get $v))
            (then
              (local.set $gq (i32.load8_u (i32.add (local.get $g) (local.get $n))))
              (if (i32.ne (local.get $fq) (local.get $gq))
                (then
                  (i32.store8 (i32.add (local.get $f) (local.get $n))
                    (select (local.get $v) (local.get $gq) (i32.lt_u (local.get $v) (local.get $gq))))
                  (if (i32.eqz (i32.load8_u (i32.add (local.get $flag) (local.get $n))))
                    (then
                      (i32.store8 (i32.add (local.get $flag) (local.get $n)) (i32.const 1))
                      (local.set $a (i32.add (local.get $head) (local.get $len)))
                      (if (i32.ge_u (local.get $a) (local.get $cap))
                        (then (local.set $a (i32.sub (local.get $a) (local.get $cap)))))
                      (i32.store (i32.add (local.get $q) (i32.shl (local.get $a) (i32.const 2))) (local.get $n))
                      (local.set $len (i32.add (local.get $len) (i32.const 1)))))))))
          (local.set $nb (i32.add (local.get $nb) (i32.const 1)))
          (br_if $nb_loop (i32.lt_u (local.get $nb) (i32.const 8))))
        (br $q_loop))))

  ;; g's interior ← 255 − f's interior
  (func $complement (param $f i32) (param $g i32) (param $w i32) (param $h i32)
    (local $pw i32) (local $y i32) (local $x i32) (local $o i32) (local $last i32)
    (local.set $pw (i32.add (local.get $w) (i32.const 2)))
    (local.set $last (i32.sub (local.get $w) (i32.const 16)))
    (local.set $y (i32.const 1))
    (block $y_done
      (loop $y_loop
        (br_if $y_done (i32.gt_u (local.get $y) (local.get $h)))
        (local.set $x (i32.const 0))
        (block $x_done
          (loop $x_loop
            (local.set $o (i32.add (i32.mul (local.get $y) (local.get $pw)) (i32.add (local.get $x) (i32.const 1))))
            (v128.store (i32.add (local.get $g) (local.get $o))
              (i8x16.sub (i8x16.splat (i32.const 255)) (v128.load (i32.add (local.get $f) (local.get $o)))))
            (br_if $x_done (i32.eq (local.get $x) (local.get $last)))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (if (i32.gt_u (local.get $x) (local.get $last)) (then (local.set $x (local.get $last))))
            (br $x_loop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $y_loop))))

  ;; g's interior ← its opening then closing by reconstruction (radius r)
  (func (export "smooth")
    (param $g i32) (param $f i32) (param $flag i32) (param $t i32) (param $lo i32) (param $row i32) (param $v i32)
    (param $q i32) (param $w i32) (param $h i32) (param $r i32)
    ;; opening by reconstruction, complemented
    (call $erode (local.get $g) (local.get $f) (local.get $w) (local.get $h) (local.get $r) (local.get $row) (local.get $v))
    (call $reconstruct (local.get $f) (local.get $g) (local.get $flag) (local.get $t) (local.get $lo) (local.get $q)
      (local.get $w) (local.get $h))
    (call $complement (local.get $f) (local.get $g) (local.get $w) (local.get $h))
    ;; closing by reconstruction (the dual, on the complement), complemented back
    (call $erode (local.get $g) (local.get $f) (local.get $w) (local.get $h) (local.get $r) (local.get $row) (local.get $v))
    (call $reconstruct (local.get $f) (local.get $g) (local.get $flag) (local.get $t) (local.get $lo) (local.get $q)
      (local.get $w) (local.get $h))
    (call $complement (local.get $f) (local.get $g) (local.get $w) (local.get $h))))
