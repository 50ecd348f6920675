//! `mount-s3 BUCKET MOUNTPOINT [OPTIONS]`: Mountpoint for Amazon S3 on the lab cluster.
//!
//! The file system is the published `mountpoint-s3-fs` library; this binary only turns the
//! command line that the Mountpoint CSI driver's mounter passes (the options of the upstream
//! `mount-s3` CLI that the driver uses) into the library's configuration and runs the FUSE
//! session in the foreground until it is unmounted or signalled.
//!
//! MOUNTPOINT may be `/dev/fd/N`: a FUSE device descriptor that the CSI driver has already
//! opened and mounted (the driver's pod mounter does this).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use mountpoint_s3_client::ObjectClient;
use mountpoint_s3_client::config::{AddressingStyle, S3ClientAuthConfig};
use mountpoint_s3_client::error::{ListObjectsError, ObjectClientError};
use mountpoint_s3_client::user_agent::UserAgent;
use mountpoint_s3_fs::data_cache::DataCacheConfig;
use mountpoint_s3_fs::fs::{CacheConfig, TimeToLive};
use mountpoint_s3_fs::fuse::config::{FuseOptions, FuseSessionConfig, MountPoint};
use mountpoint_s3_fs::logging::{LoggingConfig, init_logging, prepare_log_file_name};
use mountpoint_s3_fs::memory::{CandidateSize, PagedPool};
use mountpoint_s3_fs::s3::config::{ClientConfig, MemoryLimitSetting, PartConfig, Region, TargetThroughputSetting};
use mountpoint_s3_fs::s3::{Bucket, Prefix, S3Path, S3Personality};
use mountpoint_s3_fs::{MountpointConfig, Runtime, S3FilesystemConfig, Superblock, SuperblockConfig, metrics};

const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
const DEFAULT_MAX_THREADS: usize = 16;
const MEMORY_LIMIT: usize = 512 * 1024 * 1024;

/// Flags that take no value.
const SWITCHES: &[&str] = &[
    "foreground",
    "read-only",
    "allow-other",
    "allow-root",
    "allow-delete",
    "allow-overwrite",
    "auto-unmount",
    "force-path-style",
    "incremental-upload",
    "debug",
    "debug-crt",
    "no-log",
    "no-sign-request",
    "requester-pays",
    "transfer-acceleration",
    "dual-stack",
];

/// Options that take one value (`--name=value` or `--name value`).
const VALUED: &[&str] = &[
    "region",
    "endpoint-url",
    "prefix",
    "uid",
    "gid",
    "dir-mode",
    "file-mode",
    "user-agent-prefix",
    "aws-max-attempts",
    "cache",
    "max-cache-size",
    "metadata-ttl",
    "negative-metadata-ttl",
    "log-directory",
    "max-threads",
    "part-size",
    "read-part-size",
    "write-part-size",
    "storage-class",
    "upload-checksums",
    "profile",
    "maximum-throughput-gbps",
    "expected-bucket-owner",
];

#[derive(Debug, Default)]
struct Cli {
    positional: Vec<String>,
    switches: Vec<String>,
    values: BTreeMap<String, String>,
}

impl Cli {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut cli = Cli::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-f" {
                cli.switches.push("foreground".into());
                continue;
            }
            if arg == "-o" {
                // fstab-style options ("-o allow-other,uid=1"), as the driver may pass them.
                let value = args.next().ok_or_else(|| anyhow!("-o needs a value"))?;
                for item in value.split(',').filter(|s| !s.is_empty()) {
                    let option = match item.split_once('=') {
                        Some((name, value)) => (name.to_string(), Some(value.to_string())),
                        None => (item.to_string(), None),
                    };
                    cli.add(option, &mut std::iter::empty())?;
                }
                continue;
            }
            let Some(flag) = arg.strip_prefix("--") else {
                cli.positional.push(arg);
                continue;
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (flag.to_string(), None),
            };
            cli.add((name, value), &mut args)?;
        }
        if cli.positional.len() != 2 {
            bail!("usage: mount-s3 BUCKET MOUNTPOINT [OPTIONS] (got {} positional arguments)", cli.positional.len());
        }
        Ok(cli)
    }

    fn add(&mut self, (name, value): (String, Option<String>), rest: &mut dyn Iterator<Item = String>) -> Result<()> {
        if SWITCHES.contains(&name.as_str()) {
            if value.is_some() {
                bail!("option --{name} takes no value");
            }
            self.switches.push(name);
        } else if VALUED.contains(&name.as_str()) {
            let value = match value {
                Some(value) => value,
                None => rest.next().ok_or_else(|| anyhow!("option --{name} needs a value"))?,
            };
            self.values.insert(name, value);
        } else {
            bail!("unknown option --{name}");
        }
        Ok(())
    }

    fn on(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.get(name)
            .map(|v| v.parse::<T>().map_err(|_| anyhow!("--{name}={v} is not a number")))
            .transpose()
    }

    fn mode(&self, name: &str) -> Result<Option<u16>> {
        self.get(name)
            .map(|v| u16::from_str_radix(v, 8).map_err(|_| anyhow!("--{name}={v} is not an octal mode")))
            .transpose()
    }

    fn ttl(&self, name: &str) -> Result<Option<TimeToLive>> {
        self.get(name)
            .map(|v| match v {
                "indefinite" => Ok(TimeToLive::Indefinite),
                "minimal" => Ok(TimeToLive::Minimal),
                seconds => seconds
                    .parse::<u64>()
                    .map(|s| TimeToLive::Duration(Duration::from_secs(s)))
                    .map_err(|_| anyhow!("--{name}={v}: use seconds, minimal or indefinite")),
            })
            .transpose()
    }
}

fn logging_config(cli: &Cli) -> LoggingConfig {
    let default_filter = if cli.on("no-log") {
        "off".to_string()
    } else if cli.on("debug-crt") {
        "debug,awscrt=debug".to_string()
    } else if cli.on("debug") {
        "debug,awscrt=off".to_string()
    } else {
        "warn,awscrt=off".to_string()
    };
    LoggingConfig {
        log_file: cli.get("log-directory").map(|d| prepare_log_file_name(&PathBuf::from(d))),
        log_to_stdout: true,
        default_filter,
    }
}

fn filesystem_config(cli: &Cli) -> Result<S3FilesystemConfig> {
    let read_only = cli.on("read-only");
    let mut cache_config = CacheConfig::new(cli.ttl("metadata-ttl")?.unwrap_or(TimeToLive::Minimal));
    if let Some(negative) = cli.ttl("negative-metadata-ttl")? {
        cache_config = cache_config.with_negative_metadata_ttl(negative);
    }
    let mut config = S3FilesystemConfig {
        cache_config,
        read_only,
        allow_delete: cli.on("allow-delete"),
        allow_overwrite: cli.on("allow-overwrite"),
        incremental_upload: cli.on("incremental-upload"),
        storage_class: cli.get("storage-class").map(str::to_string),
        ..Default::default()
    };
    if let Some(uid) = cli.number("uid")? {
        config.uid = uid;
    }
    if let Some(gid) = cli.number("gid")? {
        config.gid = gid;
    }
    if let Some(mode) = cli.mode("dir-mode")? {
        config.dir_mode = mode;
    }
    if let Some(mode) = cli.mode("file-mode")? {
        config.file_mode = mode;
    }
    match cli.get("upload-checksums") {
        None | Some("crc32c") => {}
        Some("off") => config.upload_checksum_algorithm = None,
        Some(other) => bail!("--upload-checksums={other}: use crc32c or off"),
    }
    Ok(config)
}

fn client_config(cli: &Cli) -> Result<ClientConfig> {
    let Some(region) = cli.get("region") else {
        // Upstream would ask the instance metadata service, which does not exist here.
        bail!("--region is required (no instance metadata service to ask)");
    };
    if let Some(attempts) = cli.get("aws-max-attempts") {
        // The CRT client reads its retry budget from the standard AWS variable.
        // SAFETY: single-threaded here: no other thread exists yet that reads the environment.
        unsafe { std::env::set_var("AWS_MAX_ATTEMPTS", attempts) };
    }
    let part_size: usize = cli.number("part-size")?.unwrap_or(DEFAULT_PART_SIZE);
    let read_size = cli.number("read-part-size")?.unwrap_or(part_size);
    let write_size = cli.number("write-part-size")?.unwrap_or(part_size);
    let auth_config = if cli.on("no-sign-request") {
        S3ClientAuthConfig::NoSigning
    } else if let Some(profile) = cli.get("profile") {
        S3ClientAuthConfig::Profile(profile.to_string())
    } else {
        S3ClientAuthConfig::Default
    };
    let throughput_target = match cli.number::<f64>("maximum-throughput-gbps")? {
        Some(gbps) => TargetThroughputSetting::User { gbps },
        None => TargetThroughputSetting::Default,
    };
    let user_agent = UserAgent::new(Some(match cli.get("user-agent-prefix") {
        Some(prefix) => format!("{prefix} s3stack-mount-s3"),
        None => "s3stack-mount-s3".to_string(),
    }));
    Ok(ClientConfig {
        region: Region::new_user_specified(region.to_string()),
        endpoint_url: cli.get("endpoint-url").map(str::to_string),
        addressing_style: if cli.on("force-path-style") { AddressingStyle::Path } else { AddressingStyle::Automatic },
        dual_stack: cli.on("dual-stack"),
        transfer_acceleration: cli.on("transfer-acceleration"),
        auth_config,
        requester_pays: cli.on("requester-pays"),
        expected_bucket_owner: cli.get("expected-bucket-owner").map(str::to_string),
        throughput_target,
        bind: None,
        part_config: PartConfig::with_read_write_sizes(read_size, write_size)
            .validate(MemoryLimitSetting::Default(MEMORY_LIMIT))?,
        user_agent,
        tls_config: None,
    })
}

/// Fail before mounting when the bucket cannot be listed (missing bucket, wrong credentials or
/// endpoint), so a bad volume fails its mount with the cause instead of an empty directory.
fn check_bucket(client: &impl ObjectClient, bucket: &str, prefix: &str) -> Result<()> {
    match futures::executor::block_on(client.list_objects(bucket, None, "/", 1, prefix)) {
        Ok(_) => Ok(()),
        Err(ObjectClientError::ServiceError(ListObjectsError::NoSuchBucket)) => {
            bail!("bucket {bucket} does not exist")
        }
        Err(err) => Err(anyhow!(err).context(format!("cannot list bucket {bucket}"))),
    }
}

fn run(cli: &Cli) -> Result<()> {
    let (bucket_name, mount_point) = (&cli.positional[0], &cli.positional[1]);
    if cli.get("cache").is_some() || cli.get("max-cache-size").is_some() {
        bail!("--cache is not supported by this build (no local data cache on the lab cluster)");
    }
    let _logging = init_logging(logging_config(cli)).context("failed to initialise logging")?;
    let _metrics = metrics::install(None).map_err(|e| anyhow!("failed to initialise metrics: {e}"))?;
    if !cli.on("foreground") {
        tracing::warn!("running in the foreground: this build does not daemonize");
    }

    let bucket = Bucket::new(bucket_name.clone()).context("invalid bucket name")?;
    let prefix = Prefix::new(cli.get("prefix").unwrap_or("")).context("invalid --prefix (it must end with '/')")?;
    let fs_config = filesystem_config(cli)?;
    let fuse_options = FuseOptions {
        read_only: fs_config.read_only,
        auto_unmount: cli.on("auto-unmount"),
        allow_root: cli.on("allow-root"),
        allow_other: cli.on("allow-other"),
        clone_fd: false,
    };
    let max_threads = cli.number("max-threads")?.unwrap_or(DEFAULT_MAX_THREADS);
    let mount_point = MountPoint::new(mount_point).context("invalid mount point")?;
    let fuse_config = FuseSessionConfig::new(mount_point, fuse_options, max_threads)?;

    let client_config = client_config(cli)?;
    let pool = PagedPool::config()
        .with_candidate_sizes([
            CandidateSize::new(client_config.part_config.read_size_bytes),
            CandidateSize::new(client_config.part_config.write_size_bytes),
        ])
        .with_memory_limit(MEMORY_LIMIT)
        .build();
    let client = client_config.create_client(pool.clone(), None).context("failed to create the S3 client")?;
    check_bucket(&client, bucket_name, cli.get("prefix").unwrap_or(""))?;
    let runtime = Runtime::new(client.event_loop_group());

    let superblock_config = SuperblockConfig {
        cache_config: fs_config.cache_config.clone(),
        s3_personality: S3Personality::Standard,
    };
    let s3_path = S3Path::new(bucket, prefix);
    let description = s3_path.bucket_description();
    let superblock = Superblock::new(client.clone(), s3_path, superblock_config);
    let config = MountpointConfig::new(fuse_config, fs_config, DataCacheConfig::default())?;
    let session = config
        .create_fuse_session(superblock, client, runtime, pool)
        .context("failed to create the FUSE session")?;
    tracing::info!("{description} is mounted");
    println!("{description} is mounted");
    session.join().context("FUSE session failed")?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::parse(std::env::args().skip(1)) {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("mount-s3: {err:#}");
            return ExitCode::from(2);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("mount-s3: {err:#}");
            ExitCode::FAILURE
        }
    }
}
