//! The `--max-*` flags of `flatroot build`, `mount` and `diff`: bounds on what hostile
//! indexes, packages and images may make a command hold. Each defaults to
//! [`Limits::default`]'s value.

use clap::Args;
use flatroot_materialize::apk::datatar::Limits;

use super::sizes::parse_size;

/// Limits on indexes and packages, flattened into the build options.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Largest repository index, both its `APKINDEX.tar.gz` and that decompressed (bytes, or
    /// with K, M, G or T) [default: 512M].
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true, value_parser = parse_size)]
    pub max_index_size: Option<u64>,
    /// Largest decompressed signature or control segment of a package (bytes, or with K,
    /// M, G or T) [default: 16M].
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true, value_parser = parse_size)]
    pub max_control_size: Option<u64>,
    /// Largest decompressed data segment of one package, or layer of an image (bytes, or
    /// with K, M, G or T) [default: 8G].
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true, value_parser = parse_size)]
    pub max_data_size: Option<u64>,
    /// Largest single file in a package (bytes, or with K, M, G or T) [default: 4G].
    #[arg(long, value_name = "SIZE", allow_negative_numbers = true, value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Most entries in one package's data tar, or placed by the layers of one image (each
    /// entry and each directory made for it, in every layer that lists it) [default: 1000000].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub max_entries: Option<usize>,
    /// Longest entry name or link target, in bytes [default: 4096].
    #[arg(long, value_name = "BYTES", value_parser = at_least_one)]
    pub max_path_length: Option<usize>,
    /// Most bytes one compressed byte of a package's data segment or an image's layer may
    /// inflate to, once it passes 1 MiB [default: 1000].
    #[arg(long, value_name = "N", value_parser = at_least_one_ratio)]
    pub max_inflate_ratio: Option<u64>,
    /// Most symlinks one path of a package may pass through [default: 40].
    #[arg(long, value_name = "N")]
    pub max_symlink_hops: Option<u32>,
}

/// A count of at least one, for a limit that at zero would refuse every package and image.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("expected at least 1: 0 would refuse every entry".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number of at least 1: {e}")),
    }
}

/// [`at_least_one`] for the inflate ratio, which at zero would refuse every layer and data
/// segment past 1 MiB.
fn at_least_one_ratio(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("expected at least 1: 0 would refuse all data past 1 MiB".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number of at least 1: {e}")),
    }
}

impl LimitArgs {
    /// The limits these flags ask for; flags not given keep their defaults.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        let set = |slot: &mut u64, value: Option<u64>| {
            if let Some(value) = value {
                *slot = value;
            }
        };
        set(&mut limits.max_index_size, self.max_index_size);
        set(&mut limits.max_control_size, self.max_control_size);
        set(&mut limits.max_data_size, self.max_data_size);
        set(&mut limits.max_file_size, self.max_file_size);
        set(&mut limits.max_inflate_ratio, self.max_inflate_ratio);
        if let Some(entries) = self.max_entries {
            limits.max_entries = entries;
        }
        if let Some(len) = self.max_path_length {
            limits.max_path_len = len;
        }
        if let Some(hops) = self.max_symlink_hops {
            limits.max_symlink_hops = hops;
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn flags_override_only_what_they_name() {
        let args = ["x", "--max-file-size", "10", "--max-entries", "3", "--max-index-size", "1.5K"];
        let limits = Probe::parse_from(args).limits.limits();
        assert_eq!(limits.max_file_size, 10);
        assert_eq!(limits.max_index_size, 1536);
        assert_eq!(limits.max_entries, 3);
        assert_eq!(limits.max_data_size, Limits::default().max_data_size);
        let none = Probe::parse_from(["x"]).limits.limits();
        assert_eq!(none, Limits::default());
    }

    #[test]
    fn limits_that_would_refuse_everything_are_refused() {
        for flag in ["--max-path-length", "--max-entries", "--max-inflate-ratio"] {
            let error = Probe::try_parse_from(["x", flag, "0"]).err().unwrap().to_string();
            assert!(
                error.contains(flag) && error.contains("expected at least 1"),
                "{flag}: {error}"
            );
            assert!(Probe::try_parse_from(["x", flag, "1"]).is_ok(), "{flag}");
        }
        let error = Probe::try_parse_from(["x", "--max-entries", "1.5"]).err().unwrap();
        assert!(error.to_string().contains("expected a whole number"), "{error}");
    }

    #[test]
    fn the_defaults_the_help_states_are_the_library_defaults() {
        let d = Limits::default();
        let expected = [
            ("max-index-size", d.max_index_size),
            ("max-control-size", d.max_control_size),
            ("max-data-size", d.max_data_size),
            ("max-file-size", d.max_file_size),
            ("max-entries", d.max_entries as u64),
            ("max-path-length", d.max_path_len as u64),
            ("max-inflate-ratio", d.max_inflate_ratio),
            ("max-symlink-hops", u64::from(d.max_symlink_hops)),
        ];
        let command = Probe::command();
        for (flag, value) in expected {
            let arg = command.get_arguments().find(|a| a.get_long() == Some(flag)).unwrap();
            let help = arg.get_help().unwrap().to_string();
            let stated = help.rsplit_once("[default: ").and_then(|(_, d)| d.strip_suffix(']'));
            assert_eq!(stated.map(super::super::sizes::parse_size), Some(Ok(value)), "{help}");
        }
    }
}
