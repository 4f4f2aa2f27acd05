;; A component that copies without gas: its second core instance calls the first through a
;; function the component lifts and lowers again, so each call runs the engine's adapter,
;; which copies the string argument (64 KiB here) from one memory to the other. Gas counts
;; the call, not the copy; the loop copies for ever. The platform refuses such code at upload
;; and at load (`fat_types::component`).
(component
  (core module $a
    (memory (export "mem") 2)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "take") (param i32 i32)))
  (core instance $a (instantiate $a))
  (func $take (param "s" string)
    (canon lift (core func $a "take") (memory $a "mem") (realloc (func $a "realloc"))))
  (core module $b
    (import "a" "take" (func $take (param i32 i32)))
    (memory (export "mem") 2)
    (func (export "run")
      (loop $again
        (call $take (i32.const 0) (i32.const 65536))
        (br $again))))
  (core func $lowered (canon lower (func $take) (memory $a "mem")))
  (core instance $b (instantiate $b (with "a" (instance (export "take" (func $lowered))))))
  (func (export "run") (canon lift (core func $b "run")))
)
