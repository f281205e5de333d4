// SharedSuspicion: another instance's conviction, held for `hold`, ignored for `quiet` after one
// this instance's own evidence did not bear out.
#include "infergate/health/shared_suspicion.h"

namespace infergate::health {

SharedSuspicion::Verdict SharedSuspicion::OnConviction(TimePoint now, std::string_view from) {
  if (active_) {
    if (from != by_) others_agree_ = true;
    return Verdict::kRefreshed;
  }
  if (deaf_until_ && now < *deaf_until_ && !own_fault_) return Verdict::kIgnored;
  active_ = true;
  until_ = now + config_.hold;
  by_ = std::string(from);
  others_agree_ = false;
  own_fault_ = false;
  deaf_until_.reset();
  return Verdict::kHonoured;
}

bool SharedSuspicion::OnClear(TimePoint now, std::string_view from) {
  // With a second instance behind it, the suspicion runs its hold: that one has not cleared.
  if (!active_ || from != by_ || others_agree_) return false;
  End(now);
  return true;
}

bool SharedSuspicion::OnOwnSuccess(TimePoint now) {
  if (!active_) return false;
  End(now);
  return true;
}

bool SharedSuspicion::Expire(TimePoint now) {
  if (!active_ || now < until_) return false;
  End(now);
  return true;
}

void SharedSuspicion::End(TimePoint now) {
  active_ = false;
  by_.clear();
  others_agree_ = false;
  // Not borne out here: the next conviction about this backend waits out `quiet`, unless this
  // instance sees a fault of its own first.
  if (!own_fault_) deaf_until_ = now + config_.quiet;
  own_fault_ = false;
}

}  // namespace infergate::health
