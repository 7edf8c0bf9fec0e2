// The processes of a distributed run: MPI's world communicator, or one process when spikeforge was built
// without MPI or started without a launcher. This file is the only place that names MPI; the trainer (its
// gradient reducer, batch totals, sharded evaluation, synchronised batch norm: train/), the run folder's
// checks (train/run.cpp) and the conversion driver's gather (backends/) call these few collectives.
//
// MPI starts only when a launcher started more than one of us (mpirun, mpiexec, srun: it leaves
// OMPI_COMM_WORLD_SIZE, PMI_SIZE or SLURM_STEP_NUM_TASKS in the environment), so a plain `spikeforge train` behaves
// exactly as without MPI, and never waits on a singleton MPI start-up.
//
// Every collective here is called by every rank, in the same order, with the same sizes: a rank that skips
// one hangs the job, so callers keep collectives out of rank-dependent branches.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace sf {

class Communicator {
 public:
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  double seconds() const { return seconds_; }  // spent inside collectives so far (communication + waiting)

  // out[r · bytes, (r + 1) · bytes) = rank r's `in` (bytes each, the same on every rank).
  void allgather(const void* in, int64_t bytes, void* out);
  // Rank r contributes counts[r] bytes (every rank passes the same counts); out holds them in rank order.
  void allgatherv(const void* in, const std::vector<int64_t>& counts, void* out);
  // Rank r contributes counts[r] bytes; on `root` out holds them in rank order (elsewhere out is not touched).
  void gatherv(const void* in, const std::vector<int64_t>& counts, void* out, int root = 0);
  // Each rank sends block j of `in` (chunk bytes) to rank j; out's block j is what rank j sent this rank.
  void alltoall(const void* in, int64_t chunk, void* out);
  void broadcast(void* data, int64_t bytes, int from = 0);
  // Ends every rank of the job with `code` (a rank alone cannot exit while the others wait on it).
  [[noreturn]] void abort(int code);

  template <class T>
  std::vector<T> allgather_value(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>, "sent as bytes");
    std::vector<T> out(static_cast<size_t>(size_));
    allgather(&v, sizeof(T), out.data());
    return out;
  }
  // Every rank's v added up, in rank order (so every rank gets the same sum, bit for bit).
  template <class T>
  T sum_over_ranks(const T& v) {
    T total{};
    for (const T& x : allgather_value(v)) total += x;
    return total;
  }
  // Every rank's vector, concatenated in rank order (the sizes may differ).
  template <class T>
  std::vector<T> allgather_vector(const std::vector<T>& v) {
    int64_t total = 0;
    const std::vector<int64_t> n = byte_counts(v, total);
    std::vector<T> out(static_cast<size_t>(total) / sizeof(T));
    allgatherv(v.data(), n, out.data());
    return out;
  }
  // The same, on rank 0 only (empty elsewhere): for results only rank 0 writes.
  template <class T>
  std::vector<T> gather_vector(const std::vector<T>& v) {
    int64_t total = 0;
    const std::vector<int64_t> n = byte_counts(v, total);
    std::vector<T> out(root() ? static_cast<size_t>(total) / sizeof(T) : 0);
    gatherv(v.data(), n, out.data());
    return out;
  }

 private:
  // Every rank's size of v in bytes, and their sum.
  template <class T>
  std::vector<int64_t> byte_counts(const std::vector<T>& v, int64_t& total) {
    static_assert(std::is_trivially_copyable_v<T>, "sent as bytes");
    const std::vector<int64_t> n = allgather_value(static_cast<int64_t>(v.size() * sizeof(T)));
    total = 0;
    for (int64_t b : n) total += b;
    return n;
  }
  friend Communicator& world();
  friend void start_distributed(int*, char***);
  friend void stop_distributed();
  int rank_ = 0, size_ = 1;
  double seconds_ = 0;
};

// The job's processes. One process (rank 0 of 1) until start_distributed found a launcher.
Communicator& world();

// Called first thing in main: starts MPI when a launcher started the process and the build has MPI. A launcher
// without MPI in the build is an error (BadInput): N copies would each train alone and overwrite one folder.
void start_distributed(int* argc, char*** argv);
void stop_distributed();  // MPI_Finalize, when started

bool built_with_mpi();
// The launcher's process count from the environment (1 when none): what the build must honour.
int launcher_size();

// Runs f on rank 0 alone (a run folder's files are rank 0's to write). An sf::Error it throws is rethrown on
// every rank, so that no rank goes on into a collective that rank 0 has left. One process: just f().
void on_root(const std::function<void()>& f);

// "rank 1/2: " in a distributed run, else "".
std::string rank_prefix();

}  // namespace sf
