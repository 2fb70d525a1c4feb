#include "problems/factory.h"

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

std::unique_ptr<ProblemBundle> make_problem(const Config& config) {
  if (config.model.kind == "toy2d") return std::make_unique<Toy2DBundle>(config);
  if (config.model.kind == "sd") return make_sd_bundle(config);
  if (config.model.kind == "fashion") return make_fashion_bundle(config);
  throw Error("model.kind '" + config.model.kind + "' cannot be trained yet", "use toy2d, sd or fashion");
}

}  // namespace nablagfn
