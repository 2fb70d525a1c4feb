# make demo  - installs what is missing, builds, finetunes the embedded Fashion-MNIST model (runs/demo)
# make test  - installs what is missing, builds, runs the CPU test suite (every label but gpu)
# make build - configure + build only
# make format - clang-format (.clang-format) the lines changed against $(FORMAT_BASE), nothing else
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEBIAN_PACKAGES = cmake g++ ninja-build ccache libtorch-dev libopenblas0-openmp nlohmann-json3-dev \
  libcli11-dev libpng-dev zlib1g-dev libjpeg62-turbo-dev libgtest-dev libgmock-dev dataset-fashion-mnist \
  libgloo-dev

FORMAT_BASE ?= main

.PHONY: deps build test demo clean format

deps:
	@tools/install_deps.sh $(DEBIAN_PACKAGES)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLAGFN_UNITY=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest -LE gpu --output-on-failure -j $(JOBS) --timeout 600

# runs/demo is the demo's own folder: a second `make demo` starts it afresh.
demo: build
	rm -rf runs/demo
	$(BUILD)/nablagfn train --config configs/fashion_nabla_db_noise_weighted.jsonc --out runs/demo

format:
	git clang-format --style=file $(FORMAT_BASE) -- src tests bench tools

clean:
	rm -rf $(BUILD)
