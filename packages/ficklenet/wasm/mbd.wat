;; FastMBD of three 8-bit channels at once, for src/saliencyWasm.ts: the scans of fastMbd8 in saliency.ts with the
;; same relaxations and ties, the three channels in lanes 0–2 of 16-bit vectors (lane 3 and the upper half are
;; idle). Compiled with wabt (`npx -y -p wabt@1.0.39 wat2wasm wasm/mbd.wat -o mbd.wasm`) and embedded as base64.
;;
;; Layout (byte addresses in the imported memory), n = w·h pixels:
;;   planes: 3 planes of n bytes (channel c of pixel i at planes + c·n + i)
;;   v:      n × 4 bytes, the pixel's channels interleaved (filled by mbd3)
;;   d, u, l: n × 8 bytes each, 4 × i16 per pixel: the barrier, and the running max and min of the current path
;;   sum:    n × 4 bytes (i32): the barriers of the three channels added
(module
  (import "env" "memory" (memory 1))

  (func (export "mbd3")
    (param $planes i32) (param $v i32) (param $d i32) (param $u i32) (param $l i32) (param $sum i32)
    (param $w i32) (param $h i32) (param $passes i32)
    (local $n i32) (local $i i32) (local $p i32) (local $y i32) (local $x i32) (local $c i32) (local $r i32)
    (local $step i32) (local $b i32) (local $vo i32) (local $o i32) (local $stepv i32) (local $stepo i32)
    (local $bo i32) (local $inf v128) (local $zero v128)
    (local $val v128) (local $ua v128) (local $la v128) (local $ha v128) (local $loa v128)
    (local $hb v128) (local $lob v128) (local $da v128) (local $db v128) (local $pick v128)
    (local $dn v128) (local $di v128) (local $take v128)
    (local.set $n (i32.mul (local.get $w) (local.get $h)))
    ;; interleave the planes; u = l = the values; d = 0 (a seed) on the border, 256 (above any barrier) inside
    (local.set $inf (i16x8.splat (i32.const 256)))
    (local.set $zero (v128.const i64x2 0 0))
    (local.set $i (i32.const 0))
    (block $init_done
      (loop $init
        (br_if $init_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $vo (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 2))))
        (i32.store8 (local.get $vo) (i32.load8_u (i32.add (local.get $planes) (local.get $i))))
        (i32.store8 offset=1 (local.get $vo)
          (i32.load8_u (i32.add (local.get $planes) (i32.add (local.get $n) (local.get $i)))))
        (i32.store8 offset=2 (local.get $vo)
          (i32.load8_u (i32.add (local.get $planes) (i32.add (i32.shl (local.get $n) (i32.const 1)) (local.get $i)))))
        (i32.store8 offset=3 (local.get $vo) (i32.const 0))
        (local.set $val (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $vo))))
        (local.set $o (i32.shl (local.get $i) (i32.const 3)))
        (v128.store64_lane 0 (i32.add (local.get $u) (local.get $o)) (local.get $val))
        (v128.store64_lane 0 (i32.add (local.get $l) (local.get $o)) (local.get $val))
        (v128.store64_lane 0 (i32.add (local.get $d) (local.get $o)) (local.get $inf))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $init)))
    ;; the border: first and last rows, first and last columns
    (local.set $x (i32.const 0))
    (block $cols_done
      (loop $cols
        (br_if $cols_done (i32.ge_u (local.get $x) (local.get $w)))
        (v128.store64_lane 0 (i32.add (local.get $d) (i32.shl (local.get $x) (i32.const 3))) (local.get $zero))
        (v128.store64_lane 0
          (i32.add (local.get $d)
            (i32.shl (i32.add (i32.sub (local.get $n) (local.get $w)) (local.get $x)) (i32.const 3)))
          (local.get $zero))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $cols)))
    (local.set $y (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $y) (local.get $h)))
        (local.set $o (i32.add (local.get $d) (i32.shl (i32.mul (local.get $y) (local.get $w)) (i32.const 3))))
        (v128.store64_lane 0 (local.get $o) (local.get $zero))
        (v128.store64_lane 0
          (i32.add (local.get $o) (i32.shl (i32.sub (local.get $w) (i32.const 1)) (i32.const 3)))
          (local.get $zero))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows)))
    (local.set $p (i32.const 0))
    (block $passes_done
      (loop $pass
        (br_if $passes_done (i32.ge_u (local.get $p) (local.get $passes)))
        ;; raster passes relax through the left and upper neighbours, inverse passes through the right and lower
        (if (i32.eqz (i32.and (local.get $p) (i32.const 1)))
          (then
            (local.set $step (i32.const 1))
            (local.set $b (i32.sub (i32.const 0) (local.get $w)))
            (local.set $y (i32.const 1))
            (local.set $x (i32.const 1)))
          (else
            (local.set $step (i32.const -1))
            (local.set $b (local.get $w))
            (local.set $y (i32.sub (local.get $h) (i32.const 2)))
            (local.set $x (i32.sub (local.get $w) (i32.const 2)))))
        (local.set $stepv (i32.shl (local.get $step) (i32.const 2)))
        (local.set $stepo (i32.shl (local.get $step) (i32.const 3)))
        (local.set $bo (i32.shl (local.get $b) (i32.const 3)))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $r) (i32.sub (local.get $h) (i32.const 2))))
            (local.set $i (i32.add (i32.mul (local.get $y) (local.get $w)) (local.get $x)))
            (local.set $vo (i32.add (local.get $v) (i32.shl (local.get $i) (i32.const 2))))
            (local.set $o (i32.shl (local.get $i) (i32.const 3)))
            ;; the neighbour `a` is the pixel the scan visited last: carried in registers
            (local.set $ua (v128.load64_zero (i32.add (local.get $u) (i32.sub (local.get $o) (local.get $stepo)))))
            (local.set $la (v128.load64_zero (i32.add (local.get $l) (i32.sub (local.get $o) (local.get $stepo)))))
            (local.set $c (i32.const 0))
            (loop $cols
              (local.set $val (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $vo))))
              (local.set $ha (i16x8.max_s (local.get $val) (local.get $ua)))
              (local.set $loa (i16x8.min_s (local.get $val) (local.get $la)))
              (local.set $hb (i16x8.max_s (local.get $val)
                (v128.load64_zero (i32.add (local.get $u) (i32.add (local.get $o) (local.get $bo))))))
              (local.set $lob (i16x8.min_s (local.get $val)
                (v128.load64_zero (i32.add (local.get $l) (i32.add (local.get $o) (local.get $bo))))))
              (local.set $da (i16x8.sub (local.get $ha) (local.get $loa)))
              (local.set $db (i16x8.sub (local.get $hb) (local.get $lob)))
              ;; b only when strictly better (a wins ties), then only when strictly better than the pixel's own
              (local.set $pick (i16x8.lt_s (local.get $db) (local.get $da)))
              (local.set $dn (v128.bitselect (local.get $db) (local.get $da) (local.get $pick)))
              (local.set $di (v128.load64_zero (i32.add (local.get $d) (local.get $o))))
              (local.set $take (i16x8.lt_s (local.get $dn) (local.get $di)))
              (v128.store64_lane 0 (i32.add (local.get $d) (local.get $o))
                (v128.bitselect (local.get $dn) (local.get $di) (local.get $take)))
              (local.set $ua (v128.bitselect
                (v128.bitselect (local.get $hb) (local.get $ha) (local.get $pick))
                (v128.load64_zero (i32.add (local.get $u) (local.get $o)))
                (local.get $take)))
              (local.set $la (v128.bitselect
                (v128.bitselect (local.get $lob) (local.get $loa) (local.get $pick))
                (v128.load64_zero (i32.add (local.get $l) (local.get $o)))
                (local.get $take)))
              (v128.store64_lane 0 (i32.add (local.get $u) (local.get $o)) (local.get $ua))
              (v128.store64_lane 0 (i32.add (local.get $l) (local.get $o)) (local.get $la))
              (local.set $vo (i32.add (local.get $vo) (local.get $stepv)))
              (local.set $o (i32.add (local.get $o) (local.get $stepo)))
              (local.set $c (i32.add (local.get $c) (i32.const 1)))
              (br_if $cols (i32.lt_u (local.get $c) (i32.sub (local.get $w) (i32.const 2)))))
            (local.set $y (i32.add (local.get $y) (local.get $step)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pass)))
    ;; sum[i] = d0 + d1 + d2
    (local.set $i (i32.const 0))
    (block $sum_done
      (loop $sums
        (br_if $sum_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.add (local.get $d) (i32.shl (local.get $i) (i32.const 3))))
        (i32.store (i32.add (local.get $sum) (i32.shl (local.get $i) (i32.const 2)))
          (i32.add (i32.load16_s (local.get $o))
            (i32.add (i32.load16_s offset=2 (local.get $o)) (i32.load16_s offset=4 (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $sums)))))
