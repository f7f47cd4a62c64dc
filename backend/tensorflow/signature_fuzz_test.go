package tensorflow

import (
	"os"
	"path/filepath"
	"testing"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// FuzzSignature feeds arbitrary saved_model.pb bytes to what carton pack
// runs on a user's SavedModel: errors are fine, panics are not.
func FuzzSignature(f *testing.F) {
	for _, m := range []string{"dense", "strings", "signatures"} {
		b, err := os.ReadFile(filepath.Join(testModels, m, "saved_model.pb"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "serving_default")
	}
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		var sm pb.SavedModel
		if proto.Unmarshal(data, &sm) != nil {
			return
		}
		mg, err := metaGraph(&sm, DefaultTags)
		if err != nil {
			return
		}
		if sig, err := resolveSignature(mg, name); err == nil {
			toSpecs(sig.inputs)
			toSpecs(sig.outputs)
		}
	})
}
