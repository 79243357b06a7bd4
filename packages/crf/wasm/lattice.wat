;; Permutohedral-lattice splat / blur / slice and the row softmax of mean-field, with 128-bit SIMD, for src/latticeWasm.ts.
;; Compiled with wabt (`wat2wasm --enable-simd wasm/lattice.wat -o lattice.wasm`) and embedded there as base64.
;;
;; All pointers are byte addresses in the imported memory. Per-point and per-vertex rows hold `chunks`·4 floats
;; (the label channels padded to a multiple of 4); vertex indices are row numbers.
(module
  (import "env" "memory" (memory 1))

  ;; vals[vtx[p,r]] += (wts[p,r]·scale[p]) · inp[p]   for p < nPoints, r < d1
  (func (export "splat")
    (param $vtx i32) (param $wts i32) (param $scale i32) (param $inp i32) (param $vals i32)
    (param $nPoints i32) (param $d1 i32) (param $chunks i32)
    (local $p i32) (local $r i32) (local $j i32) (local $row i32) (local $s f32) (local $w v128)
    (local $vp i32) (local $ip i32) (local $off i32)
    (local.set $row (i32.shl (local.get $chunks) (i32.const 4)))
    (block $pdone
      (loop $ploop
        (br_if $pdone (i32.ge_u (local.get $p) (local.get $nPoints)))
        (local.set $s (f32.load (local.get $scale)))
        (local.set $r (i32.const 0))
        (loop $rloop
          (local.set $w (f32x4.splat (f32.mul (f32.load (local.get $wts)) (local.get $s))))
          (local.set $vp (i32.add (local.get $vals) (i32.mul (i32.load (local.get $vtx)) (local.get $row))))
          (local.set $ip (local.get $inp))
          (local.set $off (i32.const 0))
          (loop $jloop
            (v128.store (i32.add (local.get $vp) (local.get $off))
              (f32x4.add (v128.load (i32.add (local.get $vp) (local.get $off)))
                (f32x4.mul (local.get $w) (v128.load (i32.add (local.get $ip) (local.get $off))))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br_if $jloop (i32.lt_u (local.get $off) (local.get $row))))
          (local.set $wts (i32.add (local.get $wts) (i32.const 4)))
          (local.set $vtx (i32.add (local.get $vtx) (i32.const 4)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rloop (i32.lt_u (local.get $r) (local.get $d1))))
        (local.set $inp (i32.add (local.get $inp) (local.get $row)))
        (local.set $scale (i32.add (local.get $scale) (i32.const 4)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ploop))))

  ;; dst[v] = src[v] + 0.5·(src[nbr[2v]] + src[nbr[2v+1]])   for v < nVertices
  (func (export "blur")
    (param $src i32) (param $dst i32) (param $nbr i32) (param $nVertices i32) (param $chunks i32)
    (local $v i32) (local $row i32) (local $sv i32) (local $n1 i32) (local $n2 i32) (local $off i32)
    (local $half v128)
    (local.set $row (i32.shl (local.get $chunks) (i32.const 4)))
    (local.set $half (f32x4.splat (f32.const 0.5)))
    (local.set $sv (local.get $src))
    (block $vdone
      (loop $vloop
        (br_if $vdone (i32.ge_u (local.get $v) (local.get $nVertices)))
        (local.set $n1 (i32.add (local.get $src) (i32.mul (i32.load (local.get $nbr)) (local.get $row))))
        (local.set $n2 (i32.add (local.get $src) (i32.mul (i32.load offset=4 (local.get $nbr)) (local.get $row))))
        (local.set $off (i32.const 0))
        (loop $jloop
          (v128.store (i32.add (local.get $dst) (local.get $off))
            (f32x4.add (v128.load (i32.add (local.get $sv) (local.get $off)))
              (f32x4.mul (local.get $half)
                (f32x4.add (v128.load (i32.add (local.get $n1) (local.get $off)))
                  (v128.load (i32.add (local.get $n2) (local.get $off)))))))
          (local.set $off (i32.add (local.get $off) (i32.const 16)))
          (br_if $jloop (i32.lt_u (local.get $off) (local.get $row))))
        (local.set $nbr (i32.add (local.get $nbr) (i32.const 8)))
        (local.set $sv (i32.add (local.get $sv) (local.get $row)))
        (local.set $dst (i32.add (local.get $dst) (local.get $row)))
        (local.set $v (i32.add (local.get $v) (i32.const 1)))
        (br $vloop))))

  ;; out[p] += scale[p] · Σ_r wts[p,r] · vals[vtx[p,r]]   for p < nPoints
  (func (export "slice")
    (param $vtx i32) (param $wts i32) (param $scale i32) (param $vals i32) (param $out i32)
    (param $nPoints i32) (param $d1 i32) (param $chunks i32)
    (local $p i32) (local $r i32) (local $row i32) (local $s f32) (local $w v128)
    (local $vp i32) (local $off i32)
    (local.set $row (i32.shl (local.get $chunks) (i32.const 4)))
    (block $pdone
      (loop $ploop
        (br_if $pdone (i32.ge_u (local.get $p) (local.get $nPoints)))
        (local.set $s (f32.load (local.get $scale)))
        (local.set $r (i32.const 0))
        (loop $rloop
          (local.set $w (f32x4.splat (f32.mul (f32.load (local.get $wts)) (local.get $s))))
          (local.set $vp (i32.add (local.get $vals) (i32.mul (i32.load (local.get $vtx)) (local.get $row))))
          (local.set $off (i32.const 0))
          (loop $jloop
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $off)))
                (f32x4.mul (local.get $w) (v128.load (i32.add (local.get $vp) (local.get $off))))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br_if $jloop (i32.lt_u (local.get $off) (local.get $row))))
          (local.set $wts (i32.add (local.get $wts) (i32.const 4)))
          (local.set $vtx (i32.add (local.get $vtx) (i32.const 4)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rloop (i32.lt_u (local.get $r) (local.get $d1))))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $scale (i32.add (local.get $scale) (i32.const 4)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ploop))))
;; out[p, 0:L] = softmax(x[p, 0:L]) for p < rows; rows are chunks·4 floats, the lanes of the last chunk that
  ;; are past L are masked off by the 16-byte lane mask at $mask (all ones for valid lanes) and written as 0.
  ;; exp(z) for z = x − max ≤ 0: 2^k·e^t, k = nearest(z·log2 e) ≥ −126, |t| ≤ ln2/2, e^t by its degree-6 Taylor
  ;; polynomial (relative error ~2e-7 in float32).
  (func (export "softmax")
    (param $x i32) (param $out i32) (param $rows i32) (param $chunks i32) (param $mask i32)
    (local $p i32) (local $row i32) (local $off i32) (local $last i32) (local $m v128) (local $v v128)
    (local $z v128) (local $k v128) (local $t v128) (local $e v128) (local $s v128) (local $lanes v128)
    (local $mx f32) (local $sum f32)
    (local.set $row (i32.shl (local.get $chunks) (i32.const 4)))
    (local.set $last (i32.sub (local.get $row) (i32.const 16)))
    (local.set $lanes (v128.load (local.get $mask)))
    (block $pdone
      (loop $ploop
        (br_if $pdone (i32.ge_u (local.get $p) (local.get $rows)))
        ;; max over the valid lanes
        (local.set $m (v128.bitselect (v128.load (i32.add (local.get $x) (local.get $last)))
          (f32x4.splat (f32.const -inf)) (local.get $lanes)))
        (local.set $off (i32.const 0))
        (block $mdone
          (loop $mloop
            (br_if $mdone (i32.ge_u (local.get $off) (local.get $last)))
            (local.set $m (f32x4.max (local.get $m) (v128.load (i32.add (local.get $x) (local.get $off)))))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $mloop)))
        (local.set $mx (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
          (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
        (local.set $m (f32x4.splat (local.get $mx)))
        ;; exponentials and their sum
        (local.set $s (f32x4.splat (f32.const 0)))
        (local.set $off (i32.const 0))
        (loop $eloop
          (local.set $z (f32x4.max
            (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (local.get $m))
              (f32x4.splat (f32.const 1.4426950408889634)))
            (f32x4.splat (f32.const -126))))
          (local.set $k (f32x4.nearest (local.get $z)))
          (local.set $t (f32x4.mul (f32x4.sub (local.get $z) (local.get $k)) (f32x4.splat (f32.const 0.6931471805599453))))
          (local.set $e (f32x4.add (f32x4.splat (f32.const 0.008333333333333333))
            (f32x4.mul (local.get $t) (f32x4.splat (f32.const 0.001388888888888889)))))
          (local.set $e (f32x4.add (f32x4.splat (f32.const 0.041666666666666664)) (f32x4.mul (local.get $t) (local.get $e))))
          (local.set $e (f32x4.add (f32x4.splat (f32.const 0.16666666666666666)) (f32x4.mul (local.get $t) (local.get $e))))
          (local.set $e (f32x4.add (f32x4.splat (f32.const 0.5)) (f32x4.mul (local.get $t) (local.get $e))))
          (local.set $e (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $t) (local.get $e))))
          (local.set $e (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $t) (local.get $e))))
          (local.set $e (f32x4.mul (local.get $e)
            (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127)))
              (i32.const 23))))
          (if (i32.eq (local.get $off) (local.get $last))
            (then (local.set $e (v128.and (local.get $e) (local.get $lanes)))))
          (v128.store (i32.add (local.get $out) (local.get $off)) (local.get $e))
          (local.set $s (f32x4.add (local.get $s) (local.get $e)))
          (local.set $off (i32.add (local.get $off) (i32.const 16)))
          (br_if $eloop (i32.lt_u (local.get $off) (local.get $row))))
        (local.set $sum (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $s)) (f32x4.extract_lane 1 (local.get $s)))
          (f32.add (f32x4.extract_lane 2 (local.get $s)) (f32x4.extract_lane 3 (local.get $s)))))
        (local.set $s (f32x4.splat (f32.div (f32.const 1) (local.get $sum))))
        (local.set $off (i32.const 0))
        (loop $nloop
          (v128.store (i32.add (local.get $out) (local.get $off))
            (f32x4.mul (v128.load (i32.add (local.get $out) (local.get $off))) (local.get $s)))
          (local.set $off (i32.add (local.get $off) (i32.const 16)))
          (br_if $nloop (i32.lt_u (local.get $off) (local.get $row))))
        (local.set $x (i32.add (local.get $x) (local.get $row)))
        (local.set $out (i32.add (local.get $out) (local.get $row)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ploop))))
)
