#include "tests/op_runner.h"

#include <functional>
#include <map>

namespace sm::test {

using Attrs = nlohmann::json;
using Inputs = std::vector<Tensor>;
using Runner = std::function<Tensor(const Inputs&, const Attrs&)>;

template <typename T> static T attr(const Attrs& a, const char* key, T fallback) {
  return a.contains(key) ? a.at(key).get<T>() : fallback;
}

static const std::map<std::string, Runner>& runners() {
  static const std::map<std::string, Runner> table = {
      {"reshape", [](const Inputs& in, const Attrs& a) { return reshape(in[0], a.at("shape").get<Shape>()); }},
      {"permute", [](const Inputs& in, const Attrs& a) { return permute(in[0], a.at("dims").get<Shape>()); }},
      {"transpose", [](const Inputs& in, const Attrs& a) { return transpose(in[0], a.at("dim0"), a.at("dim1")); }},
      {"narrow", [](const Inputs& in, const Attrs& a) { return narrow(in[0], a.at("dim"), a.at("start"), a.at("length")); }},
      {"expand", [](const Inputs& in, const Attrs& a) { return expand(in[0], a.at("shape").get<Shape>()); }},
      {"unsqueeze", [](const Inputs& in, const Attrs& a) { return unsqueeze(in[0], a.at("dim")); }},
      {"squeeze", [](const Inputs& in, const Attrs& a) { return a.contains("dim") ? squeeze(in[0], a.at("dim").get<int64_t>()) : squeeze(in[0]); }},
      {"contiguous", [](const Inputs& in, const Attrs&) { return contiguous(transpose(in[0], 0, 1)); }},
      {"clone", [](const Inputs& in, const Attrs&) { return clone(in[0]); }},
      {"to_dtype", [](const Inputs& in, const Attrs&) { return to_dtype(to_dtype(in[0], DType::F32), in[0].dtype()); }},
      {"neg", [](const Inputs& in, const Attrs&) { return neg(in[0]); }},
      {"exp", [](const Inputs& in, const Attrs&) { return exp(in[0]); }},
      {"log", [](const Inputs& in, const Attrs&) { return log(in[0]); }},
      {"sqrt", [](const Inputs& in, const Attrs&) { return sqrt(in[0]); }},
      {"rsqrt", [](const Inputs& in, const Attrs&) { return rsqrt(in[0]); }},
      {"abs", [](const Inputs& in, const Attrs&) { return abs(in[0]); }},
      {"tanh", [](const Inputs& in, const Attrs&) { return tanh(in[0]); }},
      {"sigmoid", [](const Inputs& in, const Attrs&) { return sigmoid(in[0]); }},
      {"relu", [](const Inputs& in, const Attrs&) { return relu(in[0]); }},
      {"gelu", [](const Inputs& in, const Attrs&) { return gelu(in[0]); }},
      {"gelu_tanh", [](const Inputs& in, const Attrs&) { return gelu_tanh(in[0]); }},
      {"pow_scalar", [](const Inputs& in, const Attrs& a) { return pow(in[0], a.at("exponent").get<double>()); }},
      {"clamp", [](const Inputs& in, const Attrs& a) { return clamp(in[0], a.at("min"), a.at("max")); }},
      {"add", [](const Inputs& in, const Attrs&) { return add(in[0], in[1]); }},
      {"sub", [](const Inputs& in, const Attrs&) { return sub(in[0], in[1]); }},
      {"mul", [](const Inputs& in, const Attrs&) { return mul(in[0], in[1]); }},
      {"div", [](const Inputs& in, const Attrs&) { return div(in[0], in[1]); }},
      {"pow", [](const Inputs& in, const Attrs&) { return pow(in[0], in[1]); }},
      {"maximum", [](const Inputs& in, const Attrs&) { return maximum(in[0], in[1]); }},
      {"minimum", [](const Inputs& in, const Attrs&) { return minimum(in[0], in[1]); }},
      {"where", [](const Inputs& in, const Attrs&) { return where(in[0], in[1], in[2]); }},
      {"eq", [](const Inputs& in, const Attrs&) { return eq(in[0], in[1]); }},
      {"ne", [](const Inputs& in, const Attrs&) { return ne(in[0], in[1]); }},
      {"lt", [](const Inputs& in, const Attrs&) { return lt(in[0], in[1]); }},
      {"le", [](const Inputs& in, const Attrs&) { return le(in[0], in[1]); }},
      {"gt", [](const Inputs& in, const Attrs&) { return gt(in[0], in[1]); }},
      {"ge", [](const Inputs& in, const Attrs&) { return ge(in[0], in[1]); }},
      {"sum", [](const Inputs& in, const Attrs& a) { return sum(in[0], a.at("dims").get<Shape>(), attr(a, "keepdim", false)); }},
      {"mean", [](const Inputs& in, const Attrs& a) { return mean(in[0], a.at("dims").get<Shape>(), attr(a, "keepdim", false)); }},
      {"var", [](const Inputs& in, const Attrs& a) {
         return var(in[0], a.at("dims").get<Shape>(), a.at("unbiased").get<bool>(), attr(a, "keepdim", false));
       }},
      {"max", [](const Inputs& in, const Attrs& a) { return max(in[0], a.at("dim").get<int64_t>(), attr(a, "keepdim", false)); }},
      {"min", [](const Inputs& in, const Attrs& a) { return min(in[0], a.at("dim").get<int64_t>(), attr(a, "keepdim", false)); }},
      {"argmax", [](const Inputs& in, const Attrs& a) { return argmax(in[0], a.at("dim"), attr(a, "keepdim", false)); }},
      {"argmin", [](const Inputs& in, const Attrs& a) { return argmin(in[0], a.at("dim"), attr(a, "keepdim", false)); }},
      {"matmul", [](const Inputs& in, const Attrs& a) {
         return matmul(in[0], attr(a, "transpose_b", false) ? transpose(in[1], -1, -2) : in[1]);
       }},
      {"linear", [](const Inputs& in, const Attrs& a) {
         const Tensor x = attr(a, "transpose_input", false) ? transpose(in[0], 0, 1) : in[0];
         return linear(x, in[1], in.size() > 2 ? in[2] : Tensor());
       }},
      {"softmax", [](const Inputs& in, const Attrs& a) { return softmax(in[0], a.at("dim")); }},
      {"log_softmax", [](const Inputs& in, const Attrs& a) { return log_softmax(in[0], a.at("dim")); }},
      {"layer_norm", [](const Inputs& in, const Attrs& a) {
         const Tensor w = in.size() > 1 ? in[1] : Tensor(), b = in.size() > 2 ? in[2] : Tensor();
         return layer_norm(in[0], a.at("normalized_shape").get<Shape>(), w, b, a.at("eps"));
       }},
      {"rms_norm", [](const Inputs& in, const Attrs& a) {
         return rms_norm(in[0], a.at("normalized_shape").get<Shape>(), in.size() > 1 ? in[1] : Tensor(), a.at("eps"));
       }},
      {"scaled_dot_product_attention", [](const Inputs& in, const Attrs& a) {
         if (a.contains("heads")) {  // the packed form: qkv, or q and kv
           const int64_t heads = a.at("heads");
           const auto segments = attr(a, "segments", std::vector<int64_t>{});
           return in.size() == 1 ? multi_head_attention(in[0], heads, segments)
                                 : multi_head_attention(in[0], in[1], heads);
         }
         return scaled_dot_product_attention(in[0], in[1], in[2], attr(a, "scale", 0.0));
       }},
      {"cat", [](const Inputs& in, const Attrs& a) { return cat(in, a.at("dim")); }},
      {"stack", [](const Inputs& in, const Attrs& a) { return stack(in, a.at("dim")); }},
      {"split", [](const Inputs& in, const Attrs& a) {
         const int64_t dim = a.at("dim");
         std::vector<Tensor> parts = split(in[0], a.at("split_size"), dim);
         for (size_t i = 0; i < parts.size(); ++i) parts[i] = parts[i] * static_cast<double>(i + 1);
         return cat(parts, dim);
       }},
      {"gather", [](const Inputs& in, const Attrs& a) { return gather(in[0], a.at("dim"), in[1]); }},
      {"index_select", [](const Inputs& in, const Attrs& a) { return index_select(in[0], a.at("dim"), in[1]); }},
      {"scatter_add", [](const Inputs& in, const Attrs& a) { return scatter_add(in[0], a.at("dim"), in[1], in[2]); }},
      {"argsort", [](const Inputs& in, const Attrs& a) { return argsort(in[0], a.at("dim"), a.at("descending")); }},
  };
  return table;
}

Tensor run_op(const std::string& op, const Inputs& inputs, const Attrs& attrs) {
  auto it = runners().find(op);
  check(it != runners().end(), "run_op", "no runner for op '", op, "'");
  return it->second(inputs, attrs);
}

std::set<std::string> runnable_ops() {
  std::set<std::string> names;
  for (const auto& [name, runner] : runners()) names.insert(name);
  return names;
}

}  // namespace sm::test
