#!/bin/sh
# C2ST against network evaluations for every sampler on the ten sbibm tasks (BENCHMARKS.md "Samplers on the ten
# sbibm tasks"): one model per task and method, trained once by `diffsbi benchmark` with the default training,
# then every sampler below draws DRAWS posterior samples for observations 1–5.
#
#   sh Benchmarks/sampler_sweep.sh [OUT] [SIMULATIONS] [DRAWS] [METHODS]
#
# Defaults: OUT=sampler-sweep, 10000 simulations, 1000 draws, methods "diffusion flow-matching". Writes
# OUT/<method>/results.{csv,md} and prints the summary table (Benchmarks/sampler_sweep_table.py).
set -eu
out=${1:-sampler-sweep}
sims=${2:-10000}
draws=${3:-1000}
methods=${4:-"diffusion flow-matching"}
here=$(cd "$(dirname "$0")" && pwd)
bin=${DIFFSBI:-$here/../.build/release/diffsbi}
tasks=two_moons,gaussian_linear,gaussian_linear_uniform,gaussian_mixture,slcp,slcp_distractors,bernoulli_glm,bernoulli_glm_raw,sir,lotka_volterra
diffusion="dpm-solver-2m:25,dpm-solver-2m:50,dpm-solver-2m:100,two-step-adaptive,two-step-adaptive:rms:10,tsit5:rms:4,rk45:rms:4,heun:25,heun:50,ode-euler:100,edm-stochastic:25,euler-maruyama:100,sea:100,shark:50,pc:50,langevin:200"
flow="tsit5,tsit5:rms:4,tsit5:rms:10,dpm-solver-2m:25,dpm-solver-2m:50,heun:25,ode-euler:50"
for m in $methods; do
  case $m in
    diffusion) list=$diffusion ;;
    flow-matching) list=$flow ;;
    *) echo "unknown method $m" >&2; exit 2 ;;
  esac
  "$bin" benchmark --method "$m" --tasks "$tasks" --simulations "$sims" --samples "$draws" \
    --samplers "$list" --out "$out/$m" --seed 1
done
python3 "$here/sampler_sweep_table.py" "$out"/*/results.csv
