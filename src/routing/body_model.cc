// The body's model field, parsed once on demand.
#include "infergate/routing/body_model.h"

namespace infergate::routing {

Expected<std::optional<std::string_view>, Error> BodyModel::Model() {
  if (body_.empty()) return std::optional<std::string_view>();  // GET and friends: no model
  if (!fields_ && !error_) {
    auto r = ExtractBodyFields(body_, body_.capacity());
    if (r) {
      fields_ = std::move(*r);
    } else {
      error_ = r.error();
    }
  }
  if (error_) return MakeUnexpected(*error_);
  if (fields_->model) return std::optional<std::string_view>(*fields_->model);
  return std::optional<std::string_view>();
}

}  // namespace infergate::routing
