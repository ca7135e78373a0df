//! The project's own cluster recipes, run: `deploy/slurm` submitted to a real single-node Slurm
//! started here (munged, slurmctld and slurmd on localhost, stopped afterwards) as a 3-task
//! array plus the merge it chains, once straight and once with a task that fails after one
//! image and is submitted again; `deploy/k8s`'s command lines run pod by pod with
//! `JOB_COMPLETION_INDEX` set, then the merge. Each result must be byte-identical to one local
//! `featurescope atlas` run over the same folder.
//!
//! Without Slurm (Debian: `apt-get install slurm-wlm munge`) or root, the Slurm test prints
//! SKIPPED; with `FEATURESCOPE_REQUIRE_SLURM=1` (CI) that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use featurescope_atlas::Shard;

mod common;

use common::*;

/// Small and quick: two early layers, the top 2.
const ATLAS_OPTIONS: [&str; 6] = [
    "--layers",
    "Conv2d_1a_3x3,Conv2d_2a_3x3",
    "--top",
    "2",
    "--backend",
    "cpu",
];

/// Six small photos; each of 3 shards gets at least one, shard 1 at least two (its task is
/// the one cut short after one image).
fn photos(root: &Path) {
    let samples = repo().join("assets/samples");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let cat = image::open(samples.join("chelsea_299.png")).unwrap();
    let coffee = image::open(samples.join("coffee_299.png")).unwrap();
    let photos = [
        ("cat.png", cat.clone()),
        ("coffee.png", coffee.clone()),
        ("sub/cat-mirrored.png", cat.fliph()),
        ("sub/coffee-turned.jpg", coffee.rotate90()),
        ("gray-cat.jpg", cat.grayscale()),
        ("upside-down.png", coffee.flipv()),
    ];
    for (name, img) in &photos {
        img.thumbnail(120, 120).save(root.join(name)).unwrap();
    }
    let per_shard: Vec<usize> = (0..3)
        .map(|i| {
            let s = Shard::new(i, 3).unwrap();
            photos.iter().filter(|(n, _)| s.contains(n)).count()
        })
        .collect();
    assert!(
        per_shard.iter().all(|&n| n >= 1) && per_shard[1] >= 2,
        "{per_shard:?}"
    );
}

/// One local run over the whole folder: what every cluster run must equal.
fn local_atlas(images: &Path, out: &Path) {
    let mut args = vec![
        "atlas",
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(ATLAS_OPTIONS);
    ok_all(&featurescope(&args));
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn assert_same_atlas(got: &Path, expected: &Path) {
    let (got, expected) = (tree(got), tree(expected));
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&expected), "the same files");
    for ((name, a), (_, b)) in got.iter().zip(&expected) {
        assert!(a == b, "{name} differs");
    }
    assert!(got.iter().any(|(n, _)| n == "atlas.json"));
}

// ---------------------------------------------------------------------------------------------
// Slurm

/// A single-node Slurm in a temporary directory, on free ports: munged, slurmctld and slurmd
/// as children of the test, stopped (and their jobs cancelled) when dropped.
struct Slurm {
    dir: tempfile::TempDir,
    daemons: Vec<(&'static str, Child)>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        || Path::new("/usr/sbin").join(program).is_file()
}

/// Why Slurm cannot run here, if it cannot.
fn slurm_missing() -> Option<String> {
    for program in [
        "munged",
        "slurmctld",
        "slurmd",
        "sbatch",
        "squeue",
        "scontrol",
    ] {
        if !on_path(program) {
            return Some(format!(
                "{program} is not installed (apt-get install slurm-wlm munge)"
            ));
        }
    }
    (!is_root()).then(|| "slurmd must run as root to start jobs".to_string())
}

fn sbin(program: &str) -> PathBuf {
    let p = Path::new("/usr/sbin").join(program);
    if p.is_file() {
        p
    } else {
        PathBuf::from(program)
    }
}

impl Slurm {
    fn start() -> Slurm {
        let dir = tempfile::tempdir().unwrap();
        let d = &dir.path().to_path_buf();
        for sub in ["state", "spool", "log", "munge"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // munge: a key of our own and a socket of our own, so a system munged is left alone.
        let mut random = [0u8; 1024];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").unwrap(),
            &mut random,
        )
        .unwrap();
        let key = d.join("munge/munge.key");
        std::fs::write(&key, random).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let socket = d.join("munge/munge.socket");
        let conf = d.join("slurm.conf");
        std::fs::write(&conf, slurm_conf(d, &socket)).unwrap();
        let mut slurm = Slurm {
            dir,
            daemons: Vec::new(),
        };
        let m = |f: &str| d.join("munge").join(f);
        slurm.spawn(
            "munged",
            Command::new(sbin("munged")).args([
                "--foreground".into(),
                "--force".into(),
                format!("--key-file={}", key.display()),
                format!("--socket={}", socket.display()),
                format!("--pid-file={}", m("munged.pid").display()),
                format!("--log-file={}", m("munged.log").display()),
                format!("--seed-file={}", m("munged.seed").display()),
            ]),
        );
        wait_until(Duration::from_secs(20), "munged's socket", || {
            socket.exists()
        });
        slurm.spawn(
            "slurmctld",
            Command::new(sbin("slurmctld")).args(["-D", "-i"]),
        );
        slurm.spawn(
            "slurmd",
            Command::new(sbin("slurmd")).args(["-D", "-N", "localhost"]),
        );
        wait_until(Duration::from_secs(90), "the node to be idle", || {
            let o = slurm
                .command("sinfo")
                .args(["-h", "-N", "-o", "%T"])
                .output();
            o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        slurm
    }

    fn spawn(&mut self, name: &'static str, cmd: &mut Command) {
        let log = std::fs::File::create(self.dir.path().join(format!("log/{name}.out"))).unwrap();
        let child = cmd
            .env("SLURM_CONF", self.conf())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.daemons.push((name, child));
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    /// A Slurm client command (or a script calling them) for this cluster.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf());
        for var in [
            "SLURM_ARRAY_TASK_ID",
            "SLURM_JOB_ID",
            "JOB_COMPLETION_INDEX",
        ] {
            c.env_remove(var);
        }
        c
    }

    /// `squeue`'s lines: job id, state, reason.
    fn queue(&self) -> Vec<String> {
        let o = self
            .command("squeue")
            .args(["-h", "-o", "%i %T %r"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `JobState=…` of a job (as long as slurmctld remembers it, MinJobAge: 5 minutes).
    fn state(&self, job: &str) -> String {
        let o = self
            .command("scontrol")
            .args(["show", "job", job])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split_whitespace()
            .find_map(|w| w.strip_prefix("JobState="))
            .map_or_else(|| format!("unknown: {text}"), str::to_string)
    }

    /// What the daemons logged, for a failure message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "log/slurmctld.log",
            "log/slurmd.log",
            "log/slurmctld.out",
            "log/slurmd.out",
        ] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out += &format!(
                "--- {name}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        out
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = self.command("scancel").args(["--user", "root"]).status();
        // Stop slurmd, then slurmctld, then munged: each with SIGTERM, then waited for.
        for (name, child) in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) {
                if start.elapsed() > Duration::from_secs(15) {
                    eprintln!("{name} did not stop on SIGTERM: killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A node that claims 16 CPUs and 16 GB (`config_overrides`), whatever this machine has, so
/// the scripts' resource requests are accepted unchanged; the scheduler looks every 2 s.
fn slurm_conf(d: &Path, munge_socket: &Path) -> String {
    let p = |s: &str| d.join(s).display().to_string();
    format!(
        "ClusterName=featurescope-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={d_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={d_log}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=16384 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
",
        socket = munge_socket.display(),
        ctld_port = free_port(),
        d_port = free_port(),
        state = p("state"),
        spool = p("spool"),
        ctld_pid = p("slurmctld.pid"),
        d_pid = p("slurmd.pid"),
        ctld_log = p("log/slurmctld.log"),
        d_log = p("log/slurmd.log"),
    )
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `deploy/slurm/submit.sh` with these arguments, from `workdir` (where the jobs' logs go);
/// returns (array job, merge job) as it prints them.
fn submit(
    slurm: &Slurm,
    workdir: &Path,
    env: &[(&str, &Path)],
    args: &[&str],
) -> (String, String, String) {
    let mut cmd = slurm.command("bash");
    cmd.arg(repo().join("deploy/slurm/submit.sh"))
        .args(args)
        .current_dir(workdir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let text = ok_all(&cmd.output().unwrap());
    let id = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("no `{prefix}` in {text}"))
            .to_string()
    };
    (id("array job "), id("merge job "), text)
}

#[test]
fn slurm_array_and_merge_equal_one_local_run_also_after_a_failed_task() {
    if let Some(why) = slurm_missing() {
        assert!(
            std::env::var_os("FEATURESCOPE_REQUIRE_SLURM").is_none(),
            "FEATURESCOPE_REQUIRE_SLURM is set but {why}"
        );
        eprintln!("SKIPPED: the Slurm test: {why}");
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let images = w.join("photos");
    photos(&images);
    local_atlas(&images, &w.join("local"));
    let slurm = Slurm::start();
    eprintln!("slurm up in {:.1} s", started.elapsed().as_secs_f64());
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_featurescope"));
    let args: Vec<&str> = ["3"].into_iter().chain(ATLAS_OPTIONS).collect();

    // Straight: three tasks, then the merge.
    let (parts, atlas) = (w.join("parts"), w.join("photos.atlas"));
    let env = [
        ("IMAGES", images.as_path()),
        ("PARTS", parts.as_path()),
        ("ATLAS", atlas.as_path()),
        ("FEATURESCOPE", binary.as_path()),
    ];
    let (array, merge, _) = submit(&slurm, w, &env, &args);
    wait_until(Duration::from_secs(180), "the jobs", || {
        slurm.queue().is_empty()
    });
    assert_eq!(slurm.state(&merge), "COMPLETED", "{}", slurm.logs());
    for i in 0..3 {
        let log =
            std::fs::read_to_string(w.join(format!("featurescope-atlas-{array}_{i}.log"))).unwrap();
        assert!(
            log.contains(&format!(
                "shard {i}/3 from SLURM_ARRAY_TASK_ID={i} with --shards 3"
            )),
            "{log}"
        );
        assert!(
            parts
                .join(format!("part-000{i}-of-0003/atlas.json"))
                .is_file()
        );
    }
    assert_same_atlas(&atlas, &w.join("local"));
    eprintln!(
        "straight run done at {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Task 1 stops after one image (as a preempted or crashed task does, its checkpoint
    // kept); the merge then waits for ever. Submitted again, it continues its part; the
    // stranded merge is cancelled and a new one merges.
    let (parts, atlas) = (w.join("parts2"), w.join("photos2.atlas"));
    let flaky = w.join("flaky.sh");
    std::fs::write(
        &flaky,
        format!(
            "#!/bin/sh\nif [ \"$SLURM_ARRAY_TASK_ID\" = 1 ] && mkdir \"$0.failed-once\" 2>/dev/null; then\n  exec '{bin}' \"$@\" --stop-after 1\nfi\nexec '{bin}' \"$@\"\n",
            bin = binary.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&flaky, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = [
        ("IMAGES", images.as_path()),
        ("PARTS", parts.as_path()),
        ("ATLAS", atlas.as_path()),
        ("FEATURESCOPE", flaky.as_path()),
    ];
    let (array, merge, _) = submit(&slurm, w, &env, &args);
    wait_until(Duration::from_secs(180), "the failed task", || {
        let q = slurm.queue();
        assert!(!q.is_empty(), "the merge ran: task 1 did not fail");
        q.len() == 1 && q[0].contains("DependencyNeverSatisfied")
    });
    assert_eq!(slurm.state(&format!("{array}_1")), "FAILED");
    let part1 = parts.join("part-0001-of-0003");
    let checkpoint = featurescope_maps::atlas::Atlas::load(&part1).unwrap();
    assert_eq!(checkpoint.images().len(), 1, "task 1 kept its first image");
    assert!(!atlas.exists());
    let retry: Vec<&str> = ["3", "--retry", "1"]
        .into_iter()
        .chain(ATLAS_OPTIONS)
        .collect();
    let (again, merge2, text) = submit(&slurm, w, &env, &retry);
    assert!(
        text.contains(&format!("cancelled merge job {merge}")),
        "{text}"
    );
    wait_until(
        Duration::from_secs(180),
        "the retried task and the merge",
        || slurm.queue().is_empty(),
    );
    assert_eq!(slurm.state(&merge2), "COMPLETED", "{}", slurm.logs());
    let log = std::fs::read_to_string(w.join(format!("featurescope-atlas-{again}_1.log"))).unwrap();
    assert!(
        log.contains(" 1 already in "),
        "resumed from its checkpoint: {log}"
    );
    assert_same_atlas(&atlas, &w.join("local"));
    eprintln!(
        "Slurm test done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/// The `command:` of a manifest (one line, a JSON array of strings) and the value of
/// `key: <n>` lines.
fn manifest_command(text: &str) -> Vec<String> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("command:"))
        .expect("a command: line");
    serde_json::from_str(line.trim()).expect("the command as a JSON array")
}

fn manifest_number(text: &str, key: &str) -> usize {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key}"))
        .trim()
        .parse()
        .unwrap()
}

/// The manifest's command for this machine: the binary for `featurescope`, `data` for the
/// volume mounted at `/data`, `shards` parts.
fn render(command: &[String], data: &Path, shards: usize, from: usize) -> Vec<String> {
    let mut out: Vec<String> = command
        .iter()
        .map(|a| match a.strip_prefix("/data") {
            Some(rest) => format!("{}{rest}", data.display()),
            None => a.clone(),
        })
        .collect();
    assert_eq!(out[0], "featurescope");
    out[0] = env!("CARGO_BIN_EXE_featurescope").to_string();
    if let Some(i) = out.iter().position(|a| a == "--shards") {
        assert_eq!(out[i + 1], from.to_string(), "--shards equals completions");
        out[i + 1] = shards.to_string();
    }
    out
}

#[test]
fn kubernetes_indexed_job_and_merge_equal_one_local_run() {
    let job = std::fs::read_to_string(repo().join("deploy/k8s/atlas-job.yaml")).unwrap();
    let merge = std::fs::read_to_string(repo().join("deploy/k8s/merge-job.yaml")).unwrap();
    assert!(job.contains("completionMode: Indexed"));
    let completions = manifest_number(&job, "completions");
    assert_eq!(manifest_number(&job, "parallelism"), completions);
    // Both Jobs mount the same claim at /data.
    for m in [&job, &merge] {
        assert!(m.contains("claimName: featurescope-data"), "{m}");
        assert!(m.contains("mountPath: /data"), "{m}");
        assert!(m.contains("# nvidia.com/gpu: 1") || m.contains("featurescope-merge"));
    }
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    photos(&d.join("images"));
    local_atlas(&d.join("images"), &d.join("local"));
    // Rendered for 3 pods, with the test's small layer set added to the atlas options.
    let pods = 3;
    let atlas = render(&manifest_command(&job), d, pods, completions);
    for index in 0..pods {
        let o = Command::new(&atlas[0])
            .args(&atlas[1..])
            .args(ATLAS_OPTIONS)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env_remove("SLURM_ARRAY_TASK_ID")
            .output()
            .unwrap();
        let text = ok_all(&o);
        assert!(
            text.contains(&format!(
                "shard {index}/{pods} from JOB_COMPLETION_INDEX={index} with --shards {pods}"
            )),
            "{text}"
        );
    }
    let merged = render(&manifest_command(&merge), d, pods, completions);
    let text = ok_all(
        &Command::new(&merged[0])
            .args(&merged[1..])
            .output()
            .unwrap(),
    );
    assert!(text.contains("3 parts"), "{text}");
    assert_same_atlas(&d.join("atlas"), &d.join("local"));
}
