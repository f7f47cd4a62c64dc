// Command carton packs, inspects, runs and tests cartons.
//
//	carton pack MODEL_PATH --runner NAME --framework-version REQ -o OUT.carton
//	carton info CARTON [--json]
//	carton infer CARTON --input NAME=FILE.npy ... [--output-dir DIR]
//	carton selftest CARTON
package main
