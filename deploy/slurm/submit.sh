#!/bin/bash
# Submit `featurescope atlas` of a folder as a Slurm job array of N tasks, and the merge that
# runs once all of them have succeeded:
#
#   IMAGES=/data/photos PARTS=/scratch/photos.parts ATLAS=/scratch/photos.atlas \
#     deploy/slurm/submit.sh N [atlas options: --layers …, --top …, --backend …]
#
# When tasks failed (the merge then waits for ever: DependencyNeverSatisfied), submit those
# again with the same N and options; each continues its part from its checkpoint, the stranded
# merge is cancelled and a new one waits for the retried tasks:
#
#   … deploy/slurm/submit.sh N --retry 3,17 [the same atlas options]
#
# Options for both sbatch calls (partition, account, QOS…): SBATCH_OPTIONS="--partition=cpu".
# The binary: `featurescope` on PATH, or FEATURESCOPE=/path/to/featurescope.
set -euo pipefail
usage="usage: submit.sh N [--retry I,J,…] [atlas options…]"
n=${1:?$usage}
shift
case $n in '' | *[!0-9]* | 0) echo "$usage" >&2; exit 2 ;; esac
array="0-$((n - 1))"
retry=""
if [ "${1:-}" = --retry ]; then
  retry=${2:?--retry needs the task indices, e.g. 3,17}
  array=$retry
  shift 2
fi
: "${IMAGES:?set IMAGES to the folder of images}"
: "${PARTS:?set PARTS to the folder for the parts}"
: "${ATLAS:?set ATLAS to the atlas directory to write}"
here=$(cd "$(dirname "$0")" && pwd)
export IMAGES PARTS ATLAS SHARDS="$n"
# The merge job carries the atlas' path as its comment: a retry finds the stranded one by it.
if [ -n "$retry" ]; then
  squeue -h -u "$(id -un)" -n featurescope-merge -t PENDING -o '%i|%k|%r' |
    while IFS='|' read -r job comment reason; do
      if [ "$comment" = "$ATLAS" ] && [ "$reason" = DependencyNeverSatisfied ]; then
        scancel "$job" && echo "cancelled merge job $job (a task it waited for had failed)"
      fi
    done
fi
# shellcheck disable=SC2086  # SBATCH_OPTIONS is a list of options
array_job=$(sbatch --parsable ${SBATCH_OPTIONS:-} --array="$array" "$here/atlas.sbatch" "$@")
array_job=${array_job%%;*}
# shellcheck disable=SC2086
merge_job=$(sbatch --parsable ${SBATCH_OPTIONS:-} --dependency=afterok:"$array_job" \
  --comment="$ATLAS" "$here/merge.sbatch")
merge_job=${merge_job%%;*}
echo "array job $array_job: tasks $array of $n, parts in $PARTS"
echo "merge job $merge_job: $ATLAS, once every task has succeeded"
