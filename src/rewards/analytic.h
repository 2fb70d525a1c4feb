#pragma once
// Closed-form rewards on points x [B, D] (the toy problem), differentiable:
//   linear:    r(x) = <a, x>
//   quadratic: r(x) = −‖x − c‖² / s
// They make the tilted target p(x)·exp(β r(x)) of a Gaussian mixture prior again a Gaussian mixture.
#include <vector>

#include "config/config.h"
#include "rewards/reward.h"

namespace nablagfn {

class LinearReward : public Reward {
 public:
  explicit LinearReward(std::vector<double> coef) : coef_(std::move(coef)) {}
  std::string name() const override { return "linear"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return false; }
  at::Tensor score(const at::Tensor& x, const std::vector<std::string>& prompts) override;
  const std::vector<double>& coef() const { return coef_; }

 private:
  std::vector<double> coef_;
};

class QuadraticReward : public Reward {
 public:
  QuadraticReward(std::vector<double> center, double scale) : center_(std::move(center)), scale_(scale) {}
  std::string name() const override { return "quadratic"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return false; }
  at::Tensor score(const at::Tensor& x, const std::vector<std::string>& prompts) override;
  const std::vector<double>& center() const { return center_; }
  double scale() const { return scale_; }

 private:
  std::vector<double> center_;
  double scale_;
};

}  // namespace nablagfn
