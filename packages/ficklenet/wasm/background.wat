;; The backgroundness cue of mbdSaliency (saliency.ts, addBackgroundness), for src/saliencyWasm.ts: each pixel's
;; Mahalanobis distance to the colours of the four border strips, two strips per float64 vector, with the same
;; operations in the same order as the JS loop (float64 throughout, float32 where it stores), so the two give the
;; same bits. Compiled with wabt (`npx -y -p wabt@1.0.39 wat2wasm wasm/background.wat -o background.wasm`) and
;; embedded there as base64.
(module
  (import "env" "memory" (memory 1))

  ;; dist[4p + k] = √max(0, q_k(x − m_k)) for the four strips k, p < n, from the three 8-bit planes (planes + c·n);
  ;; par: 18 vectors, for strips (0, 1) then (2, 3): m0, m1, m2, q00, q11, q22, q01, q02, q12 (the quadratic form
  ;; q00·x0² + q11·x1² + q22·x2² + q01·x0·x1 + q02·x0·x2 + q12·x1·x2); bounds gets the least and the largest
  ;; distance of each strip: [lo01, lo23, hi01, hi23].
  (func (export "distances") (param $planes i32) (param $n i32) (param $par i32) (param $dist i32) (param $bounds i32)
    (local $p i32) (local $o i32) (local $g i32) (local $v0 v128) (local $v1 v128) (local $v2 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $q v128) (local $d v128)
    (local $lo01 v128) (local $lo23 v128) (local $hi01 v128) (local $hi23 v128) (local $zero v128)
    (local.set $lo01 (f64x2.splat (f64.const inf)))
    (local.set $lo23 (local.get $lo01))
    (local.set $hi01 (f64x2.splat (f64.const -inf)))
    (local.set $hi23 (local.get $hi01))
    (local.set $zero (f64x2.splat (f64.const 0)))
    (block $done
      (loop $pixels
        (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $v0 (f64x2.splat (f64.convert_i32_u (i32.load8_u (i32.add (local.get $planes) (local.get $p))))))
        (local.set $v1 (f64x2.splat (f64.convert_i32_u
          (i32.load8_u (i32.add (local.get $planes) (i32.add (local.get $n) (local.get $p)))))))
        (local.set $v2 (f64x2.splat (f64.convert_i32_u
          (i32.load8_u (i32.add (local.get $planes) (i32.add (i32.shl (local.get $n) (i32.const 1)) (local.get $p)))))))
        (local.set $o (i32.add (local.get $dist) (i32.shl (local.get $p) (i32.const 4))))
        ;; g = 0: strips 0 and 1 (parameters at par), g = 1: strips 2 and 3 (at par + 144)
        (local.set $g (local.get $par))
        (loop $groups
          (local.set $x0 (f64x2.sub (local.get $v0) (v128.load offset=0 (local.get $g))))
          (local.set $x1 (f64x2.sub (local.get $v1) (v128.load offset=16 (local.get $g))))
          (local.set $x2 (f64x2.sub (local.get $v2) (v128.load offset=32 (local.get $g))))
          (local.set $q (f64x2.mul (f64x2.mul (v128.load offset=48 (local.get $g)) (local.get $x0)) (local.get $x0)))
          (local.set $q (f64x2.add (local.get $q)
            (f64x2.mul (f64x2.mul (v128.load offset=64 (local.get $g)) (local.get $x1)) (local.get $x1))))
          (local.set $q (f64x2.add (local.get $q)
            (f64x2.mul (f64x2.mul (v128.load offset=80 (local.get $g)) (local.get $x2)) (local.get $x2))))
          (local.set $q (f64x2.add (local.get $q)
            (f64x2.mul (f64x2.mul (v128.load offset=96 (local.get $g)) (local.get $x0)) (local.get $x1))))
          (local.set $q (f64x2.add (local.get $q)
            (f64x2.mul (f64x2.mul (v128.load offset=112 (local.get $g)) (local.get $x0)) (local.get $x2))))
          (local.set $q (f64x2.add (local.get $q)
            (f64x2.mul (f64x2.mul (v128.load offset=128 (local.get $g)) (local.get $x1)) (local.get $x2))))
          (local.set $d (f64x2.sqrt (f64x2.max (local.get $q) (local.get $zero))))
          (v128.store64_lane 0 (local.get $o) (f32x4.demote_f64x2_zero (local.get $d)))
          (if (i32.eq (local.get $g) (local.get $par))
            (then
              (local.set $lo01 (f64x2.min (local.get $lo01) (local.get $d)))
              (local.set $hi01 (f64x2.max (local.get $hi01) (local.get $d)))
              (local.set $g (i32.add (local.get $par) (i32.const 144)))
              (local.set $o (i32.add (local.get $o) (i32.const 8)))
              (br $groups)))
          (local.set $lo23 (f64x2.min (local.get $lo23) (local.get $d)))
          (local.set $hi23 (f64x2.max (local.get $hi23) (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pixels)))
    (v128.store offset=0 (local.get $bounds) (local.get $lo01))
    (v128.store offset=16 (local.get $bounds) (local.get $lo23))
    (v128.store offset=32 (local.get $bounds) (local.get $hi01))
    (v128.store offset=48 (local.get $bounds) (local.get $hi23)))

  ;; bg[p] = a + b + c + d − max(a, b, c, d), with each strip's distance rescaled: (dist − lo)·k;
  ;; scale: [lo01, lo23, k01, k23]
  (func (export "combine") (param $dist i32) (param $n i32) (param $scale i32) (param $bg i32)
    (local $p i32) (local $o i32) (local $ab v128) (local $cd v128) (local $a f64) (local $b f64) (local $c f64)
    (local $d f64)
    (block $done
      (loop $pixels
        (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $o (i32.add (local.get $dist) (i32.shl (local.get $p) (i32.const 4))))
        (local.set $ab (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $o)))
          (v128.load offset=0 (local.get $scale))) (v128.load offset=32 (local.get $scale))))
        (local.set $cd (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $o)))
          (v128.load offset=16 (local.get $scale))) (v128.load offset=48 (local.get $scale))))
        (local.set $a (f64x2.extract_lane 0 (local.get $ab)))
        (local.set $b (f64x2.extract_lane 1 (local.get $ab)))
        (local.set $c (f64x2.extract_lane 0 (local.get $cd)))
        (local.set $d (f64x2.extract_lane 1 (local.get $cd)))
        (f32.store (i32.add (local.get $bg) (i32.shl (local.get $p) (i32.const 2)))
          (f32.demote_f64
            (f64.sub
              (f64.add (f64.add (f64.add (local.get $a) (local.get $b)) (local.get $c)) (local.get $d))
              (f64.max (f64.max (local.get $a) (local.get $b)) (f64.max (local.get $c) (local.get $d))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pixels)))))
