// Package refdata reads the reference tensors that testdata/ scripts wrote
// beside their models (NAME.in.<input>.npy, NAME.out.<output>.npy), for the
// backends' tests, and runs the checks every backend's tests share
// (CheckOutputMemoryReuse). Tensors it returns own their memory, except
// those of OwnedElsewhere, which stand for another framework's, and the
// outputs CheckOutputMemoryReuse returns, which are the model's.
package refdata
