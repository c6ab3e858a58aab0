#include "nn/loss.h"

namespace sm {

static void check_same_shape(const char* op, const Tensor& pred, const Tensor& target) {
  check(pred.shape() == target.shape(), op, "prediction ", fmt(pred.shape()), " and target ", fmt(target.shape()),
        " differ");
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_same_shape("mse_loss", pred, target);
  return mean(pow(pred - target, 2.0));
}

Tensor masked_mse_loss(const Tensor& pred, const Tensor& target, const Tensor& mask) {
  check_same_shape("masked_mse_loss", pred, target);
  check(mask.shape() == Shape(pred.shape().begin(), pred.shape().end() - 1), "masked_mse_loss", "mask ",
        fmt(mask.shape()), " must be the prediction's shape ", fmt(pred.shape()), " without its last dim");
  Tensor per_row = mean(pow(pred - target, 2.0), {-1});  // (...,)
  return sum(per_row * mask) / sum(mask);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  check(logits.dim() == 2 && target.dim() == 1 && target.size(0) == logits.size(0) && target.dtype() == DType::I64,
        "cross_entropy", "needs logits (N, C) and int64 targets (N), got ", fmt(logits.shape()), " and ",
        fmt(target.shape()), " ", dtype_name(target.dtype()));
  Tensor picked = gather(log_softmax(logits, 1), 1, target.unsqueeze(1));  // (N, 1)
  return -mean(picked);
}

}  // namespace sm
