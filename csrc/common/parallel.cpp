// Thread count and denormal settings, read once from the environment.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/runtime.h"

namespace fastcnn {
namespace {

std::atomic<int> g_num_threads{0};
std::atomic<bool> g_flush_denormal{true};
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_thread_pool_started{false};
std::atomic<bool> g_pool_lost_in_fork{false};  // this process was forked after the pool started
std::atomic<bool> g_in_forked_child{false};    // until set_num_threads() is called in it
std::string g_num_threads_source;  // guarded by g_source_mutex
std::mutex g_source_mutex;
std::once_flag g_init_once;

bool read_file(const std::string& path, std::string& out) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return false;
  out.clear();
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof(chunk), file)) > 0;) out.append(chunk, n);
  std::fclose(file);
  return true;
}

// Physical cores among the CPUs in this process's affinity mask: SMT siblings share a
// (package, core) id and count once.
int physical_cores_in_affinity() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) {
    return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  }
  std::set<std::pair<std::string, std::string>> cores;
  int logical = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    ++logical;
    const std::string topology = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::string package, core;
    if (!read_file(topology + "physical_package_id", package) || !read_file(topology + "core_id", core)) {
      cores.emplace("cpu", std::to_string(cpu));  // no topology: count the logical CPU
      continue;
    }
    cores.emplace(package, core);
  }
  return std::max(1, std::min(logical, static_cast<int>(cores.size())));
}

// CPUs allowed by the container's CFS quota (cgroup v2 cpu.max, then v1), or 0 if none.
int cgroup_cpu_limit() {
  std::string text;
  if (read_file("/sys/fs/cgroup/cpu.max", text)) {
    char quota[32] = "";  // "max" or microseconds, then the period
    double period = 0;
    if (std::sscanf(text.c_str(), "%31s %lf", quota, &period) != 2) return 0;
    if (std::strcmp(quota, "max") != 0 && period > 0) {
      return std::max(1, static_cast<int>(std::ceil(std::atof(quota) / period)));
    }
    return 0;
  }
  std::string quota_text, period_text;
  if (read_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", quota_text) &&
      read_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us", period_text)) {
    const double quota = std::atof(quota_text.c_str()), period = std::atof(period_text.c_str());
    if (quota > 0 && period > 0) return std::max(1, static_cast<int>(std::ceil(quota / period)));
  }
  return 0;
}

// A positive thread count from an environment variable (OMP_NUM_THREADS may be a list such
// as "4,2": its first entry is the outer level), or 0 if unset or invalid.
int env_thread_count(const char* name, std::string& source) {
  const char* value = std::getenv(name);
  if (!value || !*value) return 0;
  char* end = nullptr;
  const long count = std::strtol(value, &end, 10);
  if (end == value || (*end != '\0' && *end != ',') || count < 1 || count > 4096) {
    source += std::string("ignored invalid ") + name + "='" + value + "'; ";
    return 0;
  }
  source += std::string(name) + "=" + std::to_string(count);
  return static_cast<int>(count);
}

// Runs in the child right after fork(): only async-signal-safe work, no locks.
void drop_to_one_thread_in_child() {
  g_num_threads.store(1);
  g_in_forked_child.store(true);
  if (g_thread_pool_started.load()) g_pool_lost_in_fork.store(true);
}

void init_once() {
  std::call_once(g_init_once, [] {
    std::string source;
    int count = env_thread_count("FASTCNN_NUM_THREADS", source);
    if (count == 0) count = env_thread_count("OMP_NUM_THREADS", source);
    if (count == 0) {
      count = usable_physical_cores();
      source += "default: physical cores usable by this process";
    }
    g_num_threads_source = source;
    int expected = 0;
    g_num_threads.compare_exchange_strong(expected, count);  // a set_num_threads() before init wins
    const char* flush = std::getenv("FASTCNN_FLUSH_DENORMAL");
    if (flush && std::strcmp(flush, "0") == 0) g_flush_denormal.store(false);
    // A forked child (a data-loader worker) runs its kernels on one thread: N workers on
    // N cores must not start N pools each, and GNU OpenMP's pool does not survive fork().
    pthread_atfork(nullptr, nullptr, drop_to_one_thread_in_child);
  });
}

}  // namespace

int usable_physical_cores() {
  const int cores = physical_cores_in_affinity();
  const int quota = cgroup_cpu_limit();
  return quota > 0 ? std::min(cores, quota) : cores;
}

int get_num_threads() {
  init_once();
  return g_num_threads.load(std::memory_order_relaxed);
}

void set_num_threads(int n) {
  FASTCNN_CHECK(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  init_once();
  if (n > 1 && g_pool_lost_in_fork.load()) {
    throw std::runtime_error(
        "set_num_threads: this process was forked after fastcnn's OpenMP threads had started in its "
        "parent, and GNU OpenMP cannot run threads in such a child (it would hang), so it stays on one "
        "thread; start workers with multiprocessing's 'spawn' or 'forkserver' method to use threads");
  }
  g_in_forked_child.store(false);
  g_num_threads.store(n);
  std::lock_guard<std::mutex> lock(g_source_mutex);
  g_num_threads_source = "set_num_threads(" + std::to_string(n) + ")";
}

std::string num_threads_source() {
  init_once();
  if (g_in_forked_child.load()) return "forked child: one thread";
  std::lock_guard<std::mutex> lock(g_source_mutex);
  return g_num_threads_source;
}

bool flush_denormal() {
  init_once();
  return g_flush_denormal.load(std::memory_order_relaxed);
}

void set_flush_denormal(bool enabled) {
  init_once();
  g_flush_denormal.store(enabled);
}

bool deterministic() { return g_deterministic.load(std::memory_order_relaxed); }

void set_deterministic(bool enabled) { g_deterministic.store(enabled); }

namespace detail {
void mark_thread_pool_started() { g_thread_pool_started.store(true, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace fastcnn
