#include "core/distributed.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"

#ifdef SPIKEFORGE_MPI
// The C API only: the deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace sf {

namespace {

// Open MPI's mpirun, MPICH/Hydra (PMI), PMIx launchers and SLURM's srun with either.
int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

bool started = false;

struct Timed {
  double& total;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~Timed() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};

#ifdef SPIKEFORGE_MPI
int as_count(int64_t bytes, const char* what) {
  if (bytes < 0 || bytes > std::numeric_limits<int>::max())
    fail_internal(std::string(what) + ": " + std::to_string(bytes) + " bytes is more than one MPI message takes");
  return static_cast<int>(bytes);
}

// A v-collective's per-rank byte counts and offsets, as MPI's ints.
struct Layout {
  std::vector<int> n, at;
};
Layout layout(const std::vector<int64_t>& counts, const char* what) {
  Layout l{std::vector<int>(counts.size()), std::vector<int>(counts.size())};
  int64_t offset = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    l.n[r] = as_count(counts[r], what);
    l.at[r] = as_count(offset, what);
    offset += counts[r];
  }
  return l;
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail_internal(std::string(what) + " failed: " + std::string(text, static_cast<size_t>(len)));
}
#endif

}  // namespace

Communicator& world() {
  static Communicator w;
  return w;
}

bool built_with_mpi() {
#ifdef SPIKEFORGE_MPI
  return true;
#else
  return false;
#endif
}

int launcher_size() {
  // SLURM_STEP_NUM_TASKS is srun's (a batch script's own process has only SLURM_NTASKS).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (const int n = env_int(name); n > 0) return n;
  return 1;
}

void start_distributed(int* argc, char*** argv) {
  const int n = launcher_size();
  if (n <= 1) return;  // one process: nothing to start
#ifdef SPIKEFORGE_MPI
  // Only the main thread calls MPI (the trainer's shard 0 runs on it), while OpenMP and loader threads work.
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  started = true;
  if (provided < MPI_THREAD_FUNNELED) fail_internal("MPI_Init_thread: this MPI does not support MPI_THREAD_FUNNELED");
  // Errors come back as return codes (turned into sf::Error) rather than aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  Communicator& w = world();
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size_);
#else
  fail_input("mpirun", "this spikeforge was built without MPI, but a launcher started " + std::to_string(n) +
                           " processes (each would train alone and overwrite the others' files); install "
                           "libopenmpi-dev (scripts/setup.sh) and rebuild, or run one process");
#endif
}

void stop_distributed() {
#ifdef SPIKEFORGE_MPI
  if (started) MPI_Finalize();
  started = false;
#endif
}

std::string rank_prefix() {
  const Communicator& w = world();
  return w.distributed() ? "rank " + std::to_string(w.rank()) + "/" + std::to_string(w.size()) + ": " : "";
}

void on_root(const std::function<void()>& f) {
  Communicator& w = world();
  if (!w.distributed()) return f();
  int32_t kind = -1;
  std::string message;
  if (w.root()) try {
      f();
    } catch (const Error& e) {
      kind = static_cast<int32_t>(e.kind());
      message = e.what();
    }
  w.broadcast(&kind, sizeof kind);
  if (kind < 0) return;
  int64_t n = static_cast<int64_t>(message.size());
  w.broadcast(&n, sizeof n);
  message.resize(static_cast<size_t>(n));
  w.broadcast(message.data(), n);
  throw Error(static_cast<ErrorKind>(kind), message).on_every_rank();
}

void Communicator::allgather(const void* in, int64_t bytes, void* out) {
  if (!distributed()) {
    if (bytes) std::memcpy(out, in, static_cast<size_t>(bytes));
    return;
  }
#ifdef SPIKEFORGE_MPI
  Timed t{seconds_};
  check(MPI_Allgather(in, as_count(bytes, "allgather"), MPI_BYTE, out, as_count(bytes, "allgather"), MPI_BYTE,
                      MPI_COMM_WORLD),
        "MPI_Allgather");
#endif
}

void Communicator::allgatherv(const void* in, const std::vector<int64_t>& counts, void* out) {
  if (counts.size() != static_cast<size_t>(size_)) fail_internal("allgatherv: one count per rank expected");
  if (!distributed()) {
    if (counts[0]) std::memcpy(out, in, static_cast<size_t>(counts[0]));
    return;
  }
#ifdef SPIKEFORGE_MPI
  Timed t{seconds_};
  const Layout l = layout(counts, "allgatherv");
  check(MPI_Allgatherv(in, l.n[static_cast<size_t>(rank_)], MPI_BYTE, out, l.n.data(), l.at.data(), MPI_BYTE,
                       MPI_COMM_WORLD),
        "MPI_Allgatherv");
#endif
}

void Communicator::gatherv(const void* in, const std::vector<int64_t>& counts, void* out, int root) {
  if (counts.size() != static_cast<size_t>(size_)) fail_internal("gatherv: one count per rank expected");
  if (!distributed()) {
    if (counts[0]) std::memcpy(out, in, static_cast<size_t>(counts[0]));
    return;
  }
#ifdef SPIKEFORGE_MPI
  Timed t{seconds_};
  const Layout l = layout(counts, "gatherv");
  check(MPI_Gatherv(in, l.n[static_cast<size_t>(rank_)], MPI_BYTE, out, l.n.data(), l.at.data(), MPI_BYTE, root,
                    MPI_COMM_WORLD),
        "MPI_Gatherv");
#endif
}

void Communicator::alltoall(const void* in, int64_t chunk, void* out) {
  if (!distributed()) {
    if (chunk) std::memcpy(out, in, static_cast<size_t>(chunk));
    return;
  }
#ifdef SPIKEFORGE_MPI
  Timed t{seconds_};
  const int c = as_count(chunk, "alltoall");
  check(MPI_Alltoall(in, c, MPI_BYTE, out, c, MPI_BYTE, MPI_COMM_WORLD), "MPI_Alltoall");
#endif
}

void Communicator::broadcast(void* data, int64_t bytes, int from) {
  if (!distributed()) return;
#ifdef SPIKEFORGE_MPI
  Timed t{seconds_};
  check(MPI_Bcast(data, as_count(bytes, "broadcast"), MPI_BYTE, from, MPI_COMM_WORLD), "MPI_Bcast");
#endif
}

void Communicator::abort(int code) {
#ifdef SPIKEFORGE_MPI
  if (started) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace sf
