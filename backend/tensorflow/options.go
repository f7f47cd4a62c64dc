package tensorflow

import (
	"fmt"
	"strings"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/backend"
)

// sessionOptions are the [runner.opts] this runner knows.
type sessionOptions struct {
	signature        string
	tags             []string
	intraOp, interOp int64
}

const knownOptions = "signature, tags, intra_op_threads, inter_op_threads"

func parseOptions(opts map[string]any) (sessionOptions, error) {
	o := sessionOptions{signature: DefaultSignature, tags: DefaultTags}
	for k, v := range opts {
		switch k {
		case "signature":
			s, ok := v.(string)
			if !ok || s == "" {
				return o, fmt.Errorf("%w: option signature = %v: want a signature name", backend.ErrInvalidOption, v)
			}
			o.signature = s
		case "tags":
			s, ok := v.(string)
			if !ok {
				return o, fmt.Errorf("%w: option tags = %v: want comma-separated tags, e.g. \"serve\"", backend.ErrInvalidOption, v)
			}
			o.tags = nil
			for _, t := range strings.Split(s, ",") {
				if t = strings.TrimSpace(t); t != "" {
					o.tags = append(o.tags, t)
				}
			}
		case "intra_op_threads", "inter_op_threads":
			if n, ok := v.(int64); k == "inter_op_threads" && n == -1 && ok {
				o.interOp = -1 // TensorFlow's "run every op on the caller's thread"
				continue
			}
			n, err := backend.ThreadCount(k, v)
			if err != nil {
				return o, fmt.Errorf("%w (inter_op_threads also takes -1)", err)
			}
			if k == "intra_op_threads" {
				o.intraOp = n
			} else {
				o.interOp = n
			}
		default:
			return o, fmt.Errorf("%w: unknown option %q (known: %s)", backend.ErrInvalidOption, k, knownOptions)
		}
	}
	return o, nil
}

// configProto is the serialized ConfigProto for TF_SetConfig, or nil when
// TensorFlow's defaults apply. An inter-op size needs per-session pools:
// TensorFlow otherwise sizes one process-wide pool by the first session.
func (o sessionOptions) configProto() ([]byte, error) {
	if o.intraOp == 0 && o.interOp == 0 {
		return nil, nil
	}
	return proto.Marshal(&pb.ConfigProto{
		IntraOpParallelismThreads: int32(o.intraOp),
		InterOpParallelismThreads: int32(o.interOp),
		UsePerSessionThreads:      o.interOp > 0,
	})
}
