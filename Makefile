# make demo  - installs what is missing, builds, runs the embedded default (for now: the 2-D toy)
# make test  - installs what is missing, builds, runs the CPU test suite (every label but gpu)
# make build - configure + build only
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEBIAN_PACKAGES = cmake g++ ninja-build ccache libtorch-dev libopenblas0-openmp nlohmann-json3-dev \
  libcli11-dev libpng-dev zlib1g-dev libjpeg62-turbo-dev libgtest-dev libgmock-dev dataset-fashion-mnist \
  libgloo-dev

.PHONY: deps build test demo clean

deps:
	@tools/install_deps.sh $(DEBIAN_PACKAGES)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLAGFN_UNITY=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest -LE gpu --output-on-failure -j $(JOBS) --timeout 600

demo: build
	$(BUILD)/nablagfn train --config configs/toy2d_nabla_db.jsonc --out runs/toy2d_nabla_db

clean:
	rm -rf $(BUILD)
