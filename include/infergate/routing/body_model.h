// The body's model field for routing, parsed at most once and only when something asks for it
// (a model route, an affinity on the body's user, an answer the gateway writes itself).
#pragma once

#include <optional>
#include <string>

#include "infergate/routing/body_fields.h"
#include "infergate/routing/route_table.h"

namespace infergate::routing {

class BodyModel final : public ModelSource {
 public:
  // `body` must keep the padding ExtractBodyFields needs (http::Request::body does).
  explicit BodyModel(std::string& body) : body_(body) {}
  Expected<std::optional<std::string_view>, Error> Model() override;
  // The parsed fields, once Model() ran and the body parsed; null otherwise.
  const BodyFields* fields() const { return fields_ ? &*fields_ : nullptr; }

 private:
  std::string& body_;
  std::optional<BodyFields> fields_;
  std::optional<Error> error_;
};

}  // namespace infergate::routing
