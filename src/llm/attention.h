// Attention of one query head over a sequence's cached keys and values.
#pragma once

namespace infergate::llm {

// softmax(q . k_t / sqrt(head_dim)) over t < n_ctx, times v_t, into out (head_dim values). Keys
// and values of position t start at keys + t * stride and values + t * stride. `scores` has room
// for n_ctx floats. Softmax in float, with the maximum subtracted.
void AttendHead(const float* q, const float* keys, const float* values, int n_ctx, int stride,
                int head_dim, float* scores, float* out);

}  // namespace infergate::llm
