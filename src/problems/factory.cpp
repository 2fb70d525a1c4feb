// The built-in problems by model.kind. Adding one: its file, plus one line in problem_registry().
#include "problems/factory.h"

#include "algorithms/fast_chain.h"
#include "core/error.h"
#include "problems/fashion.h"
#include "problems/stable_diffusion.h"
#include "problems/toy2d.h"

namespace nablagfn {

namespace {
class Toy2DBundle : public ProblemBundle {
 public:
  explicit Toy2DBundle(const Config& config)
      : toy_(make_toy2d(config, toy_dtype(config))), evaluator_(toy_, config) {}
  Problem& problem() override { return toy_.problem; }
  Evaluator* evaluator() override { return &evaluator_; }

 private:
  Toy2D toy_;
  Toy2DEvaluator evaluator_;
};
}  // namespace

ProblemRegistry& problem_registry() {
  static ProblemRegistry registry = [] {
    ProblemRegistry r("model.kind");
    r.add("toy2d", [](const Config& c) { return std::make_unique<Toy2DBundle>(c); });
    r.add("sd", [](const Config& c) { return make_sd_bundle(c); });
    r.add("fashion", [](const Config& c) { return make_fashion_bundle(c); });
    return r;
  }();
  return registry;
}

std::unique_ptr<ProblemBundle> make_problem(const Config& config) {
  std::unique_ptr<ProblemBundle> bundle = problem_registry().create(config.model.kind, config);
  bundle->problem().fast_chain = make_fast_chain(bundle->problem(), config.sample);
  return bundle;
}

}  // namespace nablagfn
