// The lean native-call trampoline of dlopen.Caller on linux/amd64: up to
// 15 integer or pointer arguments, one integer result, no floats. It runs
// on the system stack through runtime.cgocall, like purego's, but reads a
// 17-word frame instead of purego's 60 (RATIONALE.md).

#include "textflag.h"

// frame layout (callFrame in call_lean.go): fn, a1..a15, r1.
#define FRAME_FN 0
#define FRAME_R1 128

// 9 stack arguments (72 bytes) and the saved frame pointer at 88: with the
// assembler's BP save and the return address, 112 bytes keep SP 16-aligned
// at the CALL as the SysV ABI requires.
#define STACK_SIZE 96
#define PTR_ADDRESS 88

GLOBL ·callTrampolineABI0(SB), NOPTR|RODATA, $8
DATA ·callTrampolineABI0(SB)/8, $callTrampoline(SB)
TEXT callTrampoline(SB), NOSPLIT, $STACK_SIZE
	MOVQ DI, PTR_ADDRESS(SP)
	MOVQ DI, R11

	MOVQ 56(R11), R12
	MOVQ R12, 0(SP) // a7
	MOVQ 64(R11), R12
	MOVQ R12, 8(SP) // a8
	MOVQ 72(R11), R12
	MOVQ R12, 16(SP) // a9
	MOVQ 80(R11), R12
	MOVQ R12, 24(SP) // a10
	MOVQ 88(R11), R12
	MOVQ R12, 32(SP) // a11
	MOVQ 96(R11), R12
	MOVQ R12, 40(SP) // a12
	MOVQ 104(R11), R12
	MOVQ R12, 48(SP) // a13
	MOVQ 112(R11), R12
	MOVQ R12, 56(SP) // a14
	MOVQ 120(R11), R12
	MOVQ R12, 64(SP) // a15

	MOVQ 8(R11), DI   // a1
	MOVQ 16(R11), SI  // a2
	MOVQ 24(R11), DX  // a3
	MOVQ 32(R11), CX  // a4
	MOVQ 40(R11), R8  // a5
	MOVQ 48(R11), R9  // a6
	XORL AX, AX       // variadic callees: no vector registers used

	MOVQ FRAME_FN(R11), R10
	CALL R10

	MOVQ PTR_ADDRESS(SP), DI
	MOVQ AX, FRAME_R1(DI)
	XORL AX, AX
	RET
