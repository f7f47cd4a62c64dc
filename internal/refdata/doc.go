// Package refdata reads the reference tensors that testdata/ scripts wrote
// beside their models (NAME.in.<input>.npy, NAME.out.<output>.npy), for the
// backends' tests. Tensors it returns own their memory.
package refdata
