// The lean native-call trampoline of dlopen.Caller on linux/arm64 (see
// call_linux_amd64.s): up to 15 integer or pointer arguments, 8 in R0-R7
// and 7 on the stack, one integer result, no floats.

#include "textflag.h"

// frame layout (callFrame in call_lean.go): fn, a1..a15, r1.
#define FRAME_FN 0
#define FRAME_R1 128

// 7 stack arguments (56 bytes) and the saved frame pointer at 56: 64
// bytes keep RSP 16-aligned as AAPCS64 requires.
#define STACK_SIZE 64
#define PTR_ADDRESS 56

GLOBL ·callTrampolineABI0(SB), NOPTR|RODATA, $8
DATA ·callTrampolineABI0(SB)/8, $callTrampoline(SB)
TEXT callTrampoline(SB), NOSPLIT, $0
	SUB  $STACK_SIZE, RSP
	MOVD R0, PTR_ADDRESS(RSP)
	MOVD R0, R9

	MOVD 72(R9), R10
	MOVD R10, 0(RSP)  // a9
	MOVD 80(R9), R10
	MOVD R10, 8(RSP)  // a10
	MOVD 88(R9), R10
	MOVD R10, 16(RSP) // a11
	MOVD 96(R9), R10
	MOVD R10, 24(RSP) // a12
	MOVD 104(R9), R10
	MOVD R10, 32(RSP) // a13
	MOVD 112(R9), R10
	MOVD R10, 40(RSP) // a14
	MOVD 120(R9), R10
	MOVD R10, 48(RSP) // a15

	MOVD 8(R9), R0  // a1
	MOVD 16(R9), R1 // a2
	MOVD 24(R9), R2 // a3
	MOVD 32(R9), R3 // a4
	MOVD 40(R9), R4 // a5
	MOVD 48(R9), R5 // a6
	MOVD 56(R9), R6 // a7
	MOVD 64(R9), R7 // a8

	MOVD FRAME_FN(R9), R10
	BL   (R10)

	MOVD PTR_ADDRESS(RSP), R2
	ADD  $STACK_SIZE, RSP
	MOVD R0, FRAME_R1(R2)
	RET
