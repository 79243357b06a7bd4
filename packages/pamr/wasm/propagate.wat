;; PAMR propagation step (spec §3.6 step 5) with 128-bit SIMD, for src/kernels/propagateWasm.ts.
;; Compiled with wabt 1.0.39 (`npx -y -p wabt@1.0.39 wat2wasm wasm/propagate.wat -o p.wasm`) and embedded
;; there as base64.
;;
;; propagate(from, dst, src, wts, pixels, taps, chunks), all pointers are byte addresses in the memory:
;;   masks are pixel-major with the channels padded to chunks·4 floats;
;;   wts[p·taps + t] f32 affinity, src[p·taps + t] i32 byte offset of the source pixel (q · chunks · 16);
;;   dst_c(p) = Σ_t wts[p,t] · from_c(src[p,t]), taps summed in order in float32 (fma-free mul then add, as
;;   the scalar JS fallback does with Math.fround, so both give identical bits).
(module
  (import "env" "memory" (memory 1))
  (func (export "propagate")
    (param $from i32) (param $dst i32) (param $src i32) (param $wts i32)
    (param $pixels i32) (param $taps i32) (param $chunks i32)
    (local $p i32) (local $j i32) (local $acc v128) (local $acc1 v128) (local $sp i32) (local $wp i32)
    (local $end i32) (local $fromj i32) (local $rowbytes i32) (local $addr i32) (local $w v128)
    (local.set $rowbytes (i32.shl (local.get $taps) (i32.const 2)))
    (block $pdone
      (loop $ploop
        (br_if $pdone (i32.ge_u (local.get $p) (local.get $pixels)))
        (local.set $end (i32.add (local.get $src) (local.get $rowbytes)))
        (local.set $j (i32.const 0))
        ;; Two 4-channel chunks per pass over the taps: one weight splat and one source load feed both.
        (block $pairsdone
          (loop $pairloop
            (br_if $pairsdone (i32.gt_u (i32.add (local.get $j) (i32.const 2)) (local.get $chunks)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $acc1 (v128.const f32x4 0 0 0 0))
            (local.set $fromj (i32.add (local.get $from) (i32.shl (local.get $j) (i32.const 4))))
            (local.set $sp (local.get $src))
            (local.set $wp (local.get $wts))
            (loop $tloop2
              (local.set $w (v128.load32_splat (local.get $wp)))
              (local.set $addr (i32.add (local.get $fromj) (i32.load (local.get $sp))))
              (local.set $acc (f32x4.add (local.get $acc)
                (f32x4.mul (local.get $w) (v128.load (local.get $addr)))))
              (local.set $acc1 (f32x4.add (local.get $acc1)
                (f32x4.mul (local.get $w) (v128.load offset=16 (local.get $addr)))))
              (local.set $sp (i32.add (local.get $sp) (i32.const 4)))
              (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
              (br_if $tloop2 (i32.lt_u (local.get $sp) (local.get $end))))
            (v128.store (local.get $dst) (local.get $acc))
            (v128.store offset=16 (local.get $dst) (local.get $acc1))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $j (i32.add (local.get $j) (i32.const 2)))
            (br $pairloop)))
        ;; An odd last chunk.
        (if (i32.lt_u (local.get $j) (local.get $chunks))
          (then
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $fromj (i32.add (local.get $from) (i32.shl (local.get $j) (i32.const 4))))
            (local.set $sp (local.get $src))
            (local.set $wp (local.get $wts))
            (loop $tloop
              (local.set $acc
                (f32x4.add (local.get $acc)
                  (f32x4.mul (v128.load32_splat (local.get $wp))
                             (v128.load (i32.add (local.get $fromj) (i32.load (local.get $sp)))))))
              (local.set $sp (i32.add (local.get $sp) (i32.const 4)))
              (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
              (br_if $tloop (i32.lt_u (local.get $sp) (local.get $end))))
            (v128.store (local.get $dst) (local.get $acc))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))))
        (local.set $src (local.get $end))
        (local.set $wts (i32.add (local.get $wts) (local.get $rowbytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ploop)))))
