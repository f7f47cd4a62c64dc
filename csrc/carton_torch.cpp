// carton_torch.cpp: the C ABI of include/carton_torch.h over libtorch.
// Every entry point catches all exceptions and reports them through *err.

#include "carton_torch.h"

#include <torch/script.h>
#include <torch/version.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {
struct Result;

// Results are recycled per module, so a forward call reuses the vectors and
// strings of an earlier one instead of allocating them again. Idle results
// do not hold the pool; a result in use does, so it may outlive its module.
struct Pool {
  std::mutex mu;
  std::vector<Result *> idle;
  ~Pool();
};

// One output's storage.
struct Slot {
  std::string name;
  std::vector<int64_t> shape;
  at::Tensor keep;  // owner of the output memory
  std::vector<std::string> strings;
  std::vector<const char *> str_ptrs;
  std::vector<int64_t> str_lens;
};

struct Result {
  ct_result pub;  // first: the C side sees a ct_result*
  std::vector<ct_tensor> tensors;
  std::vector<Slot> slots;  // slots[0, used) are this call's outputs
  size_t used = 0;
  std::shared_ptr<Pool> pool;
  // Dict mode: the input dict of the call that made this result, which
  // the next call through this result refills in place when nothing else
  // holds it (see input_dict). Its tensors are views of memory it does
  // not own, so keeping it holds no input alive.
  c10::IValue input_dict;
};

Pool::~Pool() {
  for (Result *r : idle) delete r;
}

Result *acquire(const std::shared_ptr<Pool> &pool) {
  Result *r = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool->mu);
    if (!pool->idle.empty()) {
      r = pool->idle.back();
      pool->idle.pop_back();
    }
  }
  if (!r) r = new Result();  // pooled results were cleared by release
  r->pool = pool;
  return r;
}

// clear drops a result's outputs, keeping its buffers for reuse.
void clear(Result *r) {
  for (size_t i = 0; i < r->used; i++) {
    r->slots[i].keep.reset();
    r->slots[i].strings.clear();
  }
  r->used = 0;
  r->tensors.clear();
}

void release(Result *r) {
  clear(r);
  std::shared_ptr<Pool> pool = std::move(r->pool);
  std::lock_guard<std::mutex> lock(pool->mu);
  if (pool->idle.size() < 64) {
    pool->idle.push_back(r);
    return;
  }
  delete r;
}

Slot &next_slot(Result *r) {
  if (r->used == r->slots.size()) r->slots.emplace_back();
  return r->slots[r->used++];
}
}  // namespace

// Positional outputs without a name from the caller are output_0, ...;
// the first ones are made once, not per call.
constexpr size_t kDefaultNames = 16;

struct ct_module {
  torch::jit::Module module;
  torch::Device device{torch::kCPU};
  bool dict_mode = false;
  int n_args = 0;
  // Positional mode: forward's argument types, without self; null for a
  // Tensor argument, which the input is as it comes.
  std::vector<c10::TypePtr> arg_types;
  c10::TypePtr dict_value;  // dict mode: the Dict's value type
  // forward, looked up once (Module::forward looks it up by name on
  // every call).
  std::unique_ptr<torch::jit::Method> forward;
  // Dict mode with str keys: the dict ct_forward builds is of forward's
  // declared type by construction, so it runs forward without the schema
  // check (which builds the dict's type anew on every call).
  bool dict_prechecked = false;
  std::shared_ptr<Pool> pool = std::make_shared<Pool>();
  std::vector<std::string> default_names;
};

namespace {

// The intra-op thread count asked for. libtorch's setting lives in
// thread-local OpenMP state, and Go runs each call on whichever OS thread is
// free, so every forward re-applies it on its own thread when it differs.
std::atomic<int32_t> wanted_threads{0};

int32_t fail(char **err, const std::string &msg) {
  if (err) *err = strdup(msg.c_str());
  return 1;
}

#define CT_TRY try {
#define CT_CATCH(err)                                              \
  }                                                                \
  catch (const c10::Error &e) {                                    \
    return fail(err, e.what_without_backtrace());                  \
  }                                                                \
  catch (const std::exception &e) {                                \
    return fail(err, e.what());                                    \
  }                                                                \
  catch (...) {                                                    \
    return fail(err, "unknown C++ exception");                     \
  }

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define CT_HAVE_UINT 1
#endif

bool to_scalar_type(int32_t dt, at::ScalarType *st) {
  switch (dt) {
    case CT_FLOAT32: *st = at::kFloat; return true;
    case CT_FLOAT64: *st = at::kDouble; return true;
    case CT_INT8: *st = at::kChar; return true;
    case CT_INT16: *st = at::kShort; return true;
    case CT_INT32: *st = at::kInt; return true;
    case CT_INT64: *st = at::kLong; return true;
    case CT_UINT8: *st = at::kByte; return true;
    case CT_BOOL: *st = at::kBool; return true;
    case CT_FLOAT16: *st = at::kHalf; return true;
    case CT_BFLOAT16: *st = at::kBFloat16; return true;
#ifdef CT_HAVE_UINT
    case CT_UINT16: *st = at::kUInt16; return true;
    case CT_UINT32: *st = at::kUInt32; return true;
    case CT_UINT64: *st = at::kUInt64; return true;
#endif
  }
  return false;
}

bool from_scalar_type(at::ScalarType st, int32_t *dt) {
  switch (st) {
    case at::kFloat: *dt = CT_FLOAT32; return true;
    case at::kDouble: *dt = CT_FLOAT64; return true;
    case at::kChar: *dt = CT_INT8; return true;
    case at::kShort: *dt = CT_INT16; return true;
    case at::kInt: *dt = CT_INT32; return true;
    case at::kLong: *dt = CT_INT64; return true;
    case at::kByte: *dt = CT_UINT8; return true;
    case at::kBool: *dt = CT_BOOL; return true;
    case at::kHalf: *dt = CT_FLOAT16; return true;
    case at::kBFloat16: *dt = CT_BFLOAT16; return true;
#ifdef CT_HAVE_UINT
    case at::kUInt16: *dt = CT_UINT16; return true;
    case at::kUInt32: *dt = CT_UINT32; return true;
    case at::kUInt64: *dt = CT_UINT64; return true;
#endif
    default: return false;
  }
}

// to_ivalue wraps one input: numeric tensors over the caller's memory
// (from_blob, no copy), strings as str (scalar) or List[str].
c10::IValue to_ivalue(const ct_tensor &in, at::IntArrayRef shape, void *data, const torch::Device &device) {
  // shape is not copied here: libtorch copies sizes into the tensor
  if (in.dtype == CT_STRING) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    if (in.ndim == 0) return c10::IValue(std::string(in.strs[0], in.str_lens[0]));
    c10::List<std::string> list;
    list.reserve(n);
    for (int64_t i = 0; i < n; i++) list.push_back(std::string(in.strs[i], in.str_lens[i]));
    return c10::IValue(list);
  }
  at::ScalarType st;
  if (!to_scalar_type(in.dtype, &st))
    throw std::runtime_error(std::string("input ") + in.name + ": dtype " + std::to_string(in.dtype) +
                             " is not supported by libtorch " TORCH_VERSION);
  at::Tensor t;
  if (in.nbytes == 0 || data == nullptr) {
    t = at::empty(shape, at::TensorOptions().dtype(st));
  } else {
    t = at::from_blob(data, shape, at::TensorOptions().dtype(st));  // no autograd wrapper: inference only
  }
  if (device != torch::kCPU) t = t.to(device);
  return c10::IValue(t);
}

// as_argument turns a one-element tensor into the int, float or bool
// forward declares (Optional ones included), and a 1-D tensor into the
// List[int], List[float] or List[bool]: a tensor is all the caller can
// pass. Anything else stays a tensor, for TorchScript to judge.
c10::IValue as_argument(c10::IValue v, const c10::TypePtr &declared) {
  if (!v.isTensor()) return v;
  const c10::Type *type = declared.get();
  if (type->kind() == c10::TypeKind::OptionalType) type = type->expectRef<c10::OptionalType>().getElementType().get();
  const at::Tensor &t = v.toTensor();
  const bool is_bool = t.scalar_type() == at::kBool;
  const bool is_int = !is_bool && !t.is_floating_point() && !t.is_complex();
  switch (type->kind()) {
    case c10::TypeKind::IntType:
      if (t.numel() == 1 && is_int) return c10::IValue(t.item<int64_t>());
      break;
    case c10::TypeKind::FloatType:
      if (t.numel() == 1 && !is_bool && !t.is_complex()) return c10::IValue(t.item<double>());
      break;
    case c10::TypeKind::BoolType:
      if (t.numel() == 1 && is_bool) return c10::IValue(t.item<bool>());
      break;
    case c10::TypeKind::ListType: {
      if (t.dim() != 1) break;
      const auto elem = type->expectRef<c10::ListType>().getElementType()->kind();
      const at::Tensor c = t.to(torch::kCPU).contiguous();
      if (elem == c10::TypeKind::IntType && is_int) {
        const at::Tensor l = c.to(at::kLong);
        return c10::IValue(c10::List<int64_t>(c10::ArrayRef<int64_t>(l.data_ptr<int64_t>(), l.numel())));
      }
      if (elem == c10::TypeKind::FloatType && !is_bool && !t.is_complex()) {
        const at::Tensor d = c.to(at::kDouble);
        return c10::IValue(c10::List<double>(c10::ArrayRef<double>(d.data_ptr<double>(), d.numel())));
      }
      if (elem == c10::TypeKind::BoolType && is_bool) {
        c10::List<bool> list;
        for (int64_t i = 0; i < c.numel(); i++) list.push_back(c.data_ptr<bool>()[i]);
        return c10::IValue(list);
      }
      break;
    }
    default:
      break;
  }
  return v;
}

// list_tensor copies a List[int], List[float] or List[bool] into a 1-D tensor.
template <typename T>
at::Tensor list_tensor(const c10::List<T> &list, at::ScalarType st) {
  at::Tensor t = at::empty({static_cast<int64_t>(list.size())}, at::TensorOptions().dtype(st));
  T *p = t.data_ptr<T>();
  for (size_t i = 0; i < list.size(); i++) p[i] = list.get(i);
  return t;
}

void add_tensor(Result *r, std::string_view name, at::Tensor t) {
  int32_t dt;
  if (!from_scalar_type(t.scalar_type(), &dt))
    throw std::runtime_error("output " + std::string(name) + ": torch dtype " +
                             std::string(c10::toString(t.scalar_type())) + " has no carton dtype");
  if (!t.device().is_cpu()) t = t.to(torch::kCPU);
  if (!t.is_contiguous()) t = t.contiguous();
  Slot &slot = next_slot(r);
  slot.name.assign(name.data(), name.size());
  slot.shape.assign(t.sizes().begin(), t.sizes().end());
  ct_tensor ct{};
  ct.dtype = dt;
  ct.ndim = static_cast<int32_t>(t.dim());
  ct.data = t.numel() > 0 ? t.data_ptr() : nullptr;
  ct.nbytes = static_cast<int64_t>(t.numel() * t.element_size());
  slot.keep = std::move(t);
  r->tensors.push_back(ct);
}

void add_strings(Result *r, std::string_view name, std::vector<std::string> strs, bool scalar) {
  Slot &slot = next_slot(r);
  slot.name.assign(name.data(), name.size());
  slot.shape.clear();
  if (!scalar) slot.shape.push_back(static_cast<int64_t>(strs.size()));
  slot.strings = std::move(strs);
  ct_tensor ct{};
  ct.dtype = CT_STRING;
  ct.ndim = scalar ? 0 : 1;
  r->tensors.push_back(ct);
}

void add_value(Result *r, std::string_view name, const c10::IValue &v) {
  if (v.isTensor()) {
    add_tensor(r, name, v.toTensor());
  } else if (v.isString()) {
    add_strings(r, name, {v.toStringRef()}, true);
  } else if (v.isList() && v.type()->expectRef<c10::ListType>().getElementType()->kind() == c10::TypeKind::StringType) {
    std::vector<std::string> strs;
    for (const auto &s : v.toListRef()) strs.push_back(s.toStringRef());
    add_strings(r, name, std::move(strs), false);
  } else if (v.isInt()) {  // a scalar becomes a 0-d tensor, a list a 1-D one
    add_tensor(r, name, at::scalar_tensor(v.toInt(), at::TensorOptions().dtype(at::kLong)));
  } else if (v.isDouble()) {
    add_tensor(r, name, at::scalar_tensor(v.toDouble(), at::TensorOptions().dtype(at::kDouble)));
  } else if (v.isBool()) {
    add_tensor(r, name, at::scalar_tensor(v.toBool(), at::TensorOptions().dtype(at::kBool)));
  } else if (v.isIntList()) {
    add_tensor(r, name, list_tensor<int64_t>(v.toIntList(), at::kLong));
  } else if (v.isDoubleList()) {
    add_tensor(r, name, list_tensor<double>(v.toDoubleList(), at::kDouble));
  } else if (v.isBoolList()) {
    add_tensor(r, name, list_tensor<bool>(v.toBoolList(), at::kBool));
  } else {
    throw std::runtime_error("output " + std::string(name) + " is a " + v.type()->str() +
                             "; outputs must be tensors, int, float, bool, str or lists of one of those");
  }
}

// output_name names positional output i: the caller's name, else output_i
// (in scratch when the module has none made).
std::string_view output_name(const ct_module *m, const ct_call *call, size_t i, std::string &scratch) {
  if (static_cast<int64_t>(i) < call->n_out_names && call->out_names[i] && call->out_names[i][0])
    return call->out_names[i];
  if (i < m->default_names.size()) return m->default_names[i];
  scratch = "output_" + std::to_string(i);
  return scratch;
}

// holds_keys says whether dict's keys are the inputs' names, in order.
bool holds_keys(const c10::impl::GenericDict &dict, const ct_tensor *inputs, int64_t n_inputs) {
  if (static_cast<int64_t>(dict.size()) != n_inputs) return false;
  int64_t i = 0;
  for (const auto &kv : dict)  // keys are str: the shim made the dict
    if (kv.key().toStringRef() != inputs[i++].name) return false;
  return true;
}

// input_dict returns forward's input dict holding this call's inputs
// (input(i) makes input i). It refills r's dict of the previous call in
// place when nothing but r holds it and it has exactly this call's keys in
// this call's order (forward may have kept or changed it); else it makes
// a new one. A dict is kept only when every value is a view over the
// caller's memory: one on another device, or strings, would hold memory.
template <typename MakeInput>
c10::IValue input_dict(Result *r, const ct_module *m, const ct_tensor *inputs, int64_t n_inputs, MakeInput &&input) {
  bool refilled = false;
  if (r->input_dict.isGenericDict() && r->input_dict.use_count() == 1) {
    const auto dict = r->input_dict.toGenericDict();
    if ((refilled = holds_keys(dict, inputs, n_inputs))) {
      int64_t i = 0;
      for (auto it = dict.begin(); it != dict.end(); ++it) it->setValue(input(i++));
    }
  }
  if (!refilled) {
    c10::impl::GenericDict dict(c10::StringType::get(), m->dict_value);
    for (int64_t i = 0; i < n_inputs; i++) dict.insert(std::string(inputs[i].name), input(i));
    r->input_dict = c10::IValue(std::move(dict));
  }
  bool keep = m->device.is_cpu();
  for (int64_t i = 0; i < n_inputs && keep; i++) keep = inputs[i].dtype != CT_STRING;
  if (!keep) return std::move(r->input_dict);
  return r->input_dict;
}

}  // namespace

extern "C" {

int32_t ct_abi_version(void) { return CT_ABI_VERSION; }

// The revision marker carton looks for in the file, without loading it.
#define CT_REVISION_SYMBOL_(n) ct_revision_##n
#define CT_REVISION_SYMBOL(n) CT_REVISION_SYMBOL_(n)
__attribute__((visibility("default"), used)) extern const int32_t CT_REVISION_SYMBOL(CT_SHIM_REVISION) = CT_SHIM_REVISION;

const char *ct_torch_version(void) { return TORCH_VERSION; }

void ct_free_error(char *err) { free(err); }

int32_t ct_set_threads(int32_t intra_op, int32_t inter_op, char **err) {
  CT_TRY
  if (intra_op > 0) {
    wanted_threads.store(intra_op);
    at::set_num_threads(intra_op);
  }
  if (inter_op > 0 && at::get_num_interop_threads() != inter_op) at::set_num_interop_threads(inter_op);
  return 0;
  CT_CATCH(err)
}

int32_t ct_load(const char *path, const void *bytes, size_t len, const char *device, ct_module **out, char **err) {
  CT_TRY
  auto m = std::make_unique<ct_module>();
  m->device = torch::Device(device && device[0] ? device : "cpu");
  if (path) {
    m->module = torch::jit::load(path, m->device);
  } else {
    std::istringstream in(std::string(static_cast<const char *>(bytes), len));
    m->module = torch::jit::load(in, m->device);
  }
  m->module.eval();
  m->forward = std::make_unique<torch::jit::Method>(m->module.get_method("forward"));
  const auto &schema = m->forward->function().getSchema();
  const auto &args = schema.arguments();
  m->n_args = static_cast<int>(args.size()) - 1;  // without self
  for (size_t i = 1; i < args.size(); i++) {
    const c10::TypePtr &type = args[i].type();
    m->arg_types.push_back(type->kind() == c10::TypeKind::TensorType ? nullptr : type);
  }
  if (m->n_args == 1 && args[1].type()->kind() == c10::TypeKind::DictType) {
    m->dict_mode = true;
    const auto &dict_type = args[1].type()->expectRef<c10::DictType>();
    m->dict_value = dict_type.getValueType();
    m->dict_prechecked = dict_type.getKeyType()->kind() == c10::TypeKind::StringType;
  }
  for (size_t i = 0; i < kDefaultNames; i++) m->default_names.push_back("output_" + std::to_string(i));
  *out = m.release();
  return 0;
  CT_CATCH(err)
}

void ct_module_free(ct_module *m) { delete m; }

int32_t ct_forward_info(ct_module *m, int32_t *mode, int32_t *n_args, char **err) {
  CT_TRY
  *mode = m->dict_mode ? 1 : 0;
  *n_args = m->n_args;
  return 0;
  CT_CATCH(err)
}

int32_t ct_forward(ct_module *m, const ct_tensor *inputs, int64_t n_inputs, const int64_t *dims, ct_call *call,
                   void *data0, void *data1, void *data2, void *data3, void *data4, void *data5, void *data6,
                   void *data7, void *data8, void *data9) {
  char **err = &call->err;
  CT_TRY
  // The first finished result of this module becomes this call's, without
  // a trip through the pool (whose lock is the costliest part of it); the
  // others go back to the pool.
  std::unique_ptr<Result, void (*)(Result *)> r(nullptr, release);
  for (int64_t i = 0; i < call->n_done && i < CT_MAX_DONE; i++) {
    auto *done = reinterpret_cast<Result *>(call->done[i]);
    if (!r && done->pool == m->pool) {
      clear(done);
      r.reset(done);
    } else {
      release(done);
    }
  }
  call->n_done = 0;
  void *const direct[CT_DIRECT_INPUTS] = {data0, data1, data2, data3, data4, data5, data6, data7, data8, data9};
  int32_t threads = wanted_threads.load(std::memory_order_relaxed);
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
  c10::InferenceMode guard;
  std::vector<c10::IValue> args;
  const int64_t *shape = dims;
  auto input = [&](int64_t i) {
    const ct_tensor &in = inputs[i];
    c10::IValue v = to_ivalue(in, at::IntArrayRef(shape, in.ndim), i < CT_DIRECT_INPUTS ? direct[i] : in.data, m->device);
    shape += in.ndim;
    return v;
  };
  if (!r) r.reset(acquire(m->pool));
  args.reserve(static_cast<size_t>(n_inputs) + 1);  // room for self, which the Method puts first
  c10::IValue result;
  if (m->dict_mode) {
    args.emplace_back(input_dict(r.get(), m, inputs, n_inputs, input));
    if (m->dict_prechecked) {
      m->forward->run(args);
      result = std::move(args.front());
    } else {  // keys of another type: let the schema check say so
      result = (*m->forward)(std::move(args));
    }
  } else {
    for (int64_t i = 0; i < n_inputs; i++) {
      c10::IValue v = input(i);
      if (static_cast<size_t>(i) < m->arg_types.size() && m->arg_types[i]) v = as_argument(std::move(v), m->arg_types[i]);
      args.push_back(std::move(v));
    }
    result = (*m->forward)(std::move(args));  // checks the arguments against forward's schema
  }
  std::string scratch;
  if (result.isGenericDict()) {
    for (const auto &kv : result.toGenericDict()) {
      if (!kv.key().isString()) throw std::runtime_error("output dict keys must be str");
      add_value(r.get(), kv.key().toStringRef(), kv.value());
    }
  } else if (result.isTuple()) {
    const auto &elems = result.toTupleRef().elements();
    for (size_t i = 0; i < elems.size(); i++) add_value(r.get(), output_name(m, call, i, scratch), elems[i]);
  } else if (result.isTensorList()) {
    auto list = result.toTensorVector();
    for (size_t i = 0; i < list.size(); i++) add_tensor(r.get(), output_name(m, call, i, scratch), list[i]);
  } else {
    add_value(r.get(), output_name(m, call, 0, scratch), result);
  }
  // Point the C view at the slots now that they no longer grow.
  for (size_t i = 0; i < r->tensors.size(); i++) {
    ct_tensor &t = r->tensors[i];
    Slot &slot = r->slots[i];
    t.name = slot.name.c_str();
    t.shape = slot.shape.data();
    if (t.dtype == CT_STRING) {
      slot.str_ptrs.clear();
      slot.str_lens.clear();
      for (const auto &s : slot.strings) {
        slot.str_ptrs.push_back(s.data());
        slot.str_lens.push_back(static_cast<int64_t>(s.size()));
      }
      t.strs = slot.str_ptrs.data();
      t.str_lens = slot.str_lens.data();
    }
  }
  r->pub.n = static_cast<int64_t>(r->tensors.size());
  r->pub.tensors = r->tensors.data();
  call->result = &r.release()->pub;
  return 0;
  CT_CATCH(err)
}

void ct_result_free(ct_result *r) { release(reinterpret_cast<Result *>(r)); }

}  // extern "C"
