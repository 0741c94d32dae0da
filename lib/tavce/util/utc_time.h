// The current time as an ISO 8601 UTC string ("2026-12-06T09:30:56Z"), as
// bundles record it in provenance.date.
#pragma once

#include <string>

namespace tavce::util {

std::string utc_now();

}  // namespace tavce::util
