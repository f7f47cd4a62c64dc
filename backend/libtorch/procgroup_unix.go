//go:build unix

package libtorch

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel makes cmd's cancellation kill its whole process group:
// a compiler driver's children (cc1plus, as) would otherwise run on, and
// hold the output pipe open, long after the driver was killed.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
