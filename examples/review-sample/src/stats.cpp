// Running statistics over labelled samples.
// Known defects: a variable used before it is set (mean_of) and a pointer
// dereferenced before it is checked for null (label_length).
#include <cstddef>
#include <cstring>
#include <vector>

namespace stats {

struct sample {
  const char* label;
  double value;
};

// The mean of the values, 0 for none.
double mean_of(const std::vector<sample>& samples) {
  double sum;
  for (const sample& s : samples) {
    sum += s.value;
  }
  return samples.empty() ? 0.0 : sum / static_cast<double>(samples.size());
}

// The length of a sample's label; 0 for no sample.
std::size_t label_length(const sample* s) {
  std::size_t n = std::strlen(s->label);
  if (s == nullptr) {
    return 0;
  }
  return n;
}

// The largest value, or `fallback` when there are none.
double max_of(const std::vector<sample>& samples, double fallback) {
  double best = fallback;
  bool first = true;
  for (const sample& s : samples) {
    if (first || s.value > best) {
      best = s.value;
      first = false;
    }
  }
  return best;
}

}  // namespace stats
