// Stream usage injection: a streamed chat or text completion request whose client did not ask
// for usage gets "stream_options":{"include_usage":true}, so the backend ends its stream with
// a usage event the gateway reads for its token metrics (and removes, usage_codec.h).
#pragma once

#include <string>

namespace infergate::routing {

// What a request body says about usage.
enum class StreamUsageAsk {
  kNotStreamed,  // no "stream": true (or not a JSON object): nothing to add
  kAsked,        // streamed with stream_options.include_usage true: the client gets usage
  kNotAsked,     // streamed without it
};

// `body` needs no padding (it is copied when its capacity leaves too little).
StreamUsageAsk ReadStreamUsageAsk(const std::string& body);

// For kNotAsked bodies: sets stream_options.include_usage to true, keeping every other byte
// (a missing stream_options is added first in the object; an existing one keeps its other
// members; a non-object one is replaced). Returns false, changing nothing, for any other body
// (and for one naming stream_options twice).
bool AddIncludeUsage(std::string& body);

}  // namespace infergate::routing
