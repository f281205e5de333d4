// Classes of a backend's refusal, read from its error answer, so a route can send the request to
// a fallback that can serve it (an over-long prompt to a long-context pool). Each model server
// phrases these its own way; the classifier knows the shapes of OpenAI, Azure OpenAI, vLLM,
// Hugging Face TGI and llama.cpp server. No I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "infergate/config/config.h"

namespace infergate::routing {

// How much of an error answer is read to classify it; a longer body is not classified.
inline constexpr size_t kMaxClassifiedErrorBody = 64 * 1024;

// True for the statuses model servers refuse requests with: 400 (OpenAI, vLLM, llama.cpp),
// 413, and 422 (TGI's validation errors).
bool IsClassifiedStatus(int status);

// The class of a backend's error answer (its status and body, JSON or text): kContextLengthExceeded
// or kContentFilter, or nullopt when it is neither (or the status is not one of the above).
std::optional<config::Trigger> ClassifyBackendError(int status, std::string_view body);

}  // namespace infergate::routing
