//! Which shard of a collection a folder command builds: `--shard I/N` when given, else the
//! index of the job-array task it runs as — Slurm (`SLURM_ARRAY_TASK_ID`), a Kubernetes
//! Indexed Job (`JOB_COMPLETION_INDEX` with `--shards N`) or AWS Batch
//! (`AWS_BATCH_JOB_ARRAY_INDEX`) — else the whole collection. Every folder command (`atlas`,
//! `compare`, and the class summaries to come) flattens [`ShardArgs`] into its arguments and
//! calls [`ShardArgs::resolve`]; which files a shard holds is
//! [`featurescope_atlas::Shard::contains`] for an atlas, and which batches
//! [`featurescope_compare::owns`] for a comparison.

use anyhow::{Context, Result, bail};
use featurescope_atlas::Shard;

/// `--shard` and `--shards`, as every folder command takes them.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct ShardArgs {
    /// Build only part I of N (I from 0): for `atlas` each file belongs to one part by a hash
    /// of its path relative to the folder, for `compare` each batch of the estimator (every
    /// N-th from the I-th), so parts built anywhere, in any order, and joined by `merge` equal
    /// one run over everything. Default: the job array's task (Slurm, a Kubernetes Indexed
    /// Job, AWS Batch), else the whole folder.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse, conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// The number of parts, with a job-array index from the environment: needed with
    /// JOB_COMPLETION_INDEX (Kubernetes); with Slurm it makes the array's task ID the part
    /// itself, so `sbatch --array=3` rebuilds part 3 (IDs then go from 0 to N-1).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

/// Where a shard came from, in words (`--shard 1/3`, `SLURM_ARRAY_TASK_ID=1 of
/// SLURM_ARRAY_TASK_COUNT=3`, …), printed so a log says why a task built what it built.
pub(crate) type Source = String;

impl ShardArgs {
    /// The shard to build and where it came from, reading the process environment; `None`
    /// for the whole collection.
    pub(crate) fn resolve(&self) -> Result<Option<(Shard, Source)>> {
        self.resolve_in(&|name| std::env::var(name).ok())
    }

    /// [`ShardArgs::resolve`] with the environment given (tests).
    pub(crate) fn resolve_in(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(Shard, Source)>> {
        if let Some(s) = self.shard {
            return Ok(Some((s, format!("--shard {s}"))));
        }
        let number = |name: &str| -> Result<Option<usize>> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .with_context(|| format!("{name}={v:?} is not a whole number"))
                })
                .transpose()
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            return self.slurm_task(id, &number).map(Some);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let Some(n) = self.shards else {
                bail!(
                    "JOB_COMPLETION_INDEX={index} (a Kubernetes Indexed Job) needs --shards N, \
                     the Job's completions"
                );
            };
            let shard = Shard::new(index, n).context("JOB_COMPLETION_INDEX with --shards")?;
            return Ok(Some((
                shard,
                format!("JOB_COMPLETION_INDEX={index} with --shards {n}"),
            )));
        }
        if let Some(index) = number("AWS_BATCH_JOB_ARRAY_INDEX")? {
            return self.aws_batch_child(index, &number).map(Some);
        }
        if let Some(n) = self.shards {
            bail!(
                "--shards {n} needs this task's index: run it as a Slurm array task \
                 (SLURM_ARRAY_TASK_ID), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or an AWS \
                 Batch array job (AWS_BATCH_JOB_ARRAY_INDEX), or give --shard I/N"
            );
        }
        Ok(None)
    }

    /// A Slurm array task: with `--shards N` the task ID is the shard; else the task's place
    /// in the array (`(ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP`) of
    /// `SLURM_ARRAY_TASK_COUNT`.
    fn slurm_task(
        &self,
        id: usize,
        number: &dyn Fn(&str) -> Result<Option<usize>>,
    ) -> Result<(Shard, Source)> {
        if let Some(n) = self.shards {
            let shard = Shard::new(id, n).with_context(|| {
                format!(
                    "SLURM_ARRAY_TASK_ID={id} with --shards {n}: number the array's tasks \
                     0 to {} (--array=0-{})",
                    n.saturating_sub(1),
                    n.saturating_sub(1)
                )
            })?;
            return Ok((shard, format!("SLURM_ARRAY_TASK_ID={id} with --shards {n}")));
        }
        let count = number("SLURM_ARRAY_TASK_COUNT")?.context(
            "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shards N",
        )?;
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let offset = id.checked_sub(min).filter(|o| o % step == 0);
        let shard = offset
            .and_then(|o| Shard::new(o / step, count).ok())
            .with_context(|| {
                format!(
                    "SLURM_ARRAY_TASK_ID={id} is not the task of an array from \
                     SLURM_ARRAY_TASK_MIN={min} by SLURM_ARRAY_TASK_STEP={step} with \
                     SLURM_ARRAY_TASK_COUNT={count} tasks: use a range (--array=0-{}), or \
                     give --shards N or --shard I/N",
                    count.saturating_sub(1)
                )
            })?;
        let mut source = format!("SLURM_ARRAY_TASK_ID={id} of SLURM_ARRAY_TASK_COUNT={count}");
        if min != 0 || step != 1 {
            source += &format!(" from SLURM_ARRAY_TASK_MIN={min} by SLURM_ARRAY_TASK_STEP={step}");
        }
        Ok((shard, source))
    }

    /// An AWS Batch array child: its index of `AWS_BATCH_JOB_ARRAY_SIZE` (set it in the job
    /// definition; Batch does not) or of `--shards`.
    fn aws_batch_child(
        &self,
        index: usize,
        number: &dyn Fn(&str) -> Result<Option<usize>>,
    ) -> Result<(Shard, Source)> {
        let size = number("AWS_BATCH_JOB_ARRAY_SIZE")?;
        let count = match (size, self.shards) {
            (Some(s), Some(n)) if s != n => {
                bail!("AWS_BATCH_JOB_ARRAY_SIZE={s} but --shards {n}: which is it?")
            }
            (Some(s), _) => s,
            (None, Some(n)) => n,
            (None, None) => bail!(
                "AWS_BATCH_JOB_ARRAY_INDEX={index} needs the array's size: set \
                 AWS_BATCH_JOB_ARRAY_SIZE in the job definition, or give --shards N"
            ),
        };
        let shard = Shard::new(index, count).context("AWS_BATCH_JOB_ARRAY_INDEX")?;
        Ok((
            shard,
            format!("AWS_BATCH_JOB_ARRAY_INDEX={index} of {count}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &ShardArgs, vars: &[(&str, &str)]) -> Result<Option<(Shard, Source)>> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        args.resolve_in(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn shard(args: &ShardArgs, vars: &[(&str, &str)]) -> (usize, usize, String) {
        let (s, source) = resolve(args, vars).unwrap().unwrap();
        (s.index(), s.count(), source)
    }

    fn error(args: &ShardArgs, vars: &[(&str, &str)]) -> String {
        format!("{:#}", resolve(args, vars).unwrap_err())
    }

    const NONE: ShardArgs = ShardArgs {
        shard: None,
        shards: None,
    };

    fn shards(n: usize) -> ShardArgs {
        ShardArgs {
            shard: None,
            shards: Some(n),
        }
    }

    #[test]
    fn a_given_shard_wins_over_the_environment() {
        let args = ShardArgs {
            shard: Some(Shard::new(2, 5).unwrap()),
            shards: None,
        };
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(shard(&args, &slurm), (2, 5, "--shard 2/5".into()));
        assert!(resolve(&NONE, &[]).unwrap().is_none());
    }

    #[test]
    fn slurm_arrays_count_from_their_first_task() {
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "1"),
        ];
        let (i, n, source) = shard(&NONE, &vars);
        assert_eq!((i, n), (1, 3));
        assert_eq!(source, "SLURM_ARRAY_TASK_ID=1 of SLURM_ARRAY_TASK_COUNT=3");
        // --array=1-8: task 8 is the last part; --array=10-40:10: task 30 is part 2 of 4.
        let one_based = [
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(shard(&NONE, &one_based).0, 7);
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "30"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "10"),
        ];
        let (i, n, source) = shard(&NONE, &stepped);
        assert_eq!((i, n), (2, 4));
        assert!(source.ends_with("from SLURM_ARRAY_TASK_MIN=10 by SLURM_ARRAY_TASK_STEP=10"));
        // --array=0,1,5 (3 tasks): task 5 is no part of 3.
        let list = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(error(&NONE, &list).contains("use a range (--array=0-2)"));
        assert!(error(&NONE, &[("SLURM_ARRAY_TASK_ID", "1")]).contains("give --shards N"));
    }

    #[test]
    fn with_shards_a_slurm_task_id_is_its_part_so_one_task_can_be_retried() {
        // `sbatch --array=3` of an 8-part build: a one-task array whose ID is the part.
        let retry = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
        ];
        let (i, n, source) = shard(&shards(8), &retry);
        assert_eq!((i, n), (3, 8));
        assert_eq!(source, "SLURM_ARRAY_TASK_ID=3 with --shards 8");
        let e = error(&shards(8), &[("SLURM_ARRAY_TASK_ID", "8")]);
        assert!(e.contains("--array=0-7"), "{e}");
    }

    #[test]
    fn kubernetes_indexed_jobs_need_the_count() {
        let vars = [("JOB_COMPLETION_INDEX", "2")];
        let (i, n, source) = shard(&shards(3), &vars);
        assert_eq!((i, n), (2, 3));
        assert_eq!(source, "JOB_COMPLETION_INDEX=2 with --shards 3");
        assert!(error(&NONE, &vars).contains("needs --shards N"));
        assert!(error(&shards(2), &vars).contains("not below the 2 shards"));
        assert!(error(&shards(3), &[("JOB_COMPLETION_INDEX", "x")]).contains("not a whole"));
    }

    #[test]
    fn aws_batch_arrays_take_their_size_from_the_job_or_the_flag() {
        let vars = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", "4"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "10"),
        ];
        assert_eq!(
            shard(&NONE, &vars),
            (4, 10, "AWS_BATCH_JOB_ARRAY_INDEX=4 of 10".into())
        );
        let index_only = [("AWS_BATCH_JOB_ARRAY_INDEX", "4")];
        assert_eq!(shard(&shards(5), &index_only).1, 5);
        assert!(error(&NONE, &index_only).contains("AWS_BATCH_JOB_ARRAY_SIZE"));
        assert!(error(&shards(5), &vars).contains("which is it"));
        assert!(error(&shards(5), &[]).contains("needs this task's index"));
    }
}
