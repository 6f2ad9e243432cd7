//! Flags as Mesos's stout reads them: `--name=value`, `--name` / `--no-name` for booleans,
//! `MESOS_<NAME>` in the environment (the command line wins), `--help`. An unknown or malformed
//! flag is an error that names it.
//!
//! A program's flags are declared once, with [`flags!`](crate::flags!): each field's name,
//! aliases, help (its doc comment), default and type, from which come the struct, its
//! [`Default`], its table of [`Flag`]s (for [`load`] and `--help`) and `from_flags`, which
//! parses each value by its type ([`FlagValue`]: stout's durations, byte sizes, booleans) and
//! runs the field's checks. `flag_values` shows every flag's value back as text, the way
//! Mesos's `/flags` endpoint does ([`FlagValue::show`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One flag.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    /// Its name (`work_dir`).
    pub name: &'static str,
    /// Other names it answers to (`num_slaves` for `num_agents`).
    pub aliases: &'static [&'static str],
    /// One line of help.
    pub help: &'static str,
    /// Its default, if any.
    pub default: Option<&'static str>,
    /// A boolean (`--name`, `--no-name`).
    pub boolean: bool,
}

impl Flag {
    /// A flag taking a value.
    pub const fn value(
        name: &'static str,
        default: Option<&'static str>,
        help: &'static str,
    ) -> Flag {
        Flag {
            name,
            aliases: &[],
            help,
            default,
            boolean: false,
        }
    }

    /// A boolean flag.
    pub const fn boolean(name: &'static str, default: bool, help: &'static str) -> Flag {
        Flag {
            name,
            aliases: &[],
            help,
            default: Some(if default { "true" } else { "false" }),
            boolean: true,
        }
    }

    /// The same flag with aliases.
    pub const fn alias(mut self, aliases: &'static [&'static str]) -> Flag {
        self.aliases = aliases;
        self
    }
}

/// Why flags did not load.
#[derive(Debug, PartialEq)]
pub enum FlagsError {
    /// `--help` was given: print this usage and exit 0.
    Help(String),
    /// A bad flag: print this and exit 1.
    Bad(String),
}

impl std::fmt::Display for FlagsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagsError::Help(s) | FlagsError::Bad(s) => f.write_str(s),
        }
    }
}

/// Loaded flags.
#[derive(Clone, Debug)]
pub struct Flags {
    values: HashMap<String, String>,
}

/// Concatenates flag tables, the first of a name winning (a program's flags are often several
/// declared structs read from one command line).
pub fn merge(tables: &[&[Flag]]) -> Vec<Flag> {
    let mut out: Vec<Flag> = Vec::new();
    for t in tables {
        for f in t.iter() {
            if !out.iter().any(|o| o.name == f.name) {
                out.push(*f);
            }
        }
    }
    out
}

/// The usage text for a program's flags.
pub fn usage(program: &str, flags: &[Flag]) -> String {
    let mut out = format!("Usage: {program} [options]\n\n");
    let mut sorted: Vec<&Flag> = flags.iter().collect();
    sorted.sort_by_key(|f| f.name);
    for f in sorted {
        let mut left = if f.boolean {
            format!("  --[no-]{}", f.name)
        } else {
            format!("  --{}=VALUE", f.name)
        };
        for a in f.aliases {
            left.push_str(&format!(", --{a}"));
        }
        out.push_str(&format!("{left}\n      {}", f.help.trim()));
        if let Some(d) = f.default {
            out.push_str(&format!(" (default: {d})"));
        }
        out.push('\n');
    }
    out.push_str("  --help\n      Prints this help message\n");
    out
}

/// Loads `flags` from the environment (`MESOS_<NAME>`) and then `args` (without the program).
pub fn load(
    program: &str,
    flags: &[Flag],
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Flags, FlagsError> {
    let find = |name: &str| {
        flags
            .iter()
            .find(|f| f.name == name || f.aliases.contains(&name))
    };
    let mut values: HashMap<String, String> = HashMap::new();
    for f in flags {
        if let Some(d) = f.default {
            values.insert(f.name.to_string(), d.to_string());
        }
        for n in std::iter::once(&f.name).chain(f.aliases.iter()) {
            if let Some(v) = env(&format!("MESOS_{}", n.to_ascii_uppercase())) {
                values.insert(f.name.to_string(), v);
            }
        }
    }
    for arg in args {
        if arg == "--help" || arg == "-h" {
            return Err(FlagsError::Help(usage(program, flags)));
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(FlagsError::Bad(format!(
                "Failed to load flags: unexpected argument '{arg}' (flags look like --name=value)"
            )));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let name = name.replace('-', "_");
        if let Some(f) = find(&name) {
            match (f.boolean, value) {
                (true, None) => {
                    values.insert(f.name.to_string(), "true".into());
                }
                (true, Some(v)) => {
                    parse_bool(v).map_err(|e| {
                        FlagsError::Bad(format!("Failed to load flag '{name}': {e}"))
                    })?;
                    values.insert(f.name.to_string(), v.to_string());
                }
                (false, Some(v)) => {
                    values.insert(f.name.to_string(), v.to_string());
                }
                (false, None) => {
                    return Err(FlagsError::Bad(format!(
                        "Failed to load flag '{name}': missing value (use --{name}=VALUE)"
                    )))
                }
            }
            continue;
        }
        if let Some(f) = name.strip_prefix("no_").and_then(&find) {
            if f.boolean && value.is_none() {
                values.insert(f.name.to_string(), "false".into());
                continue;
            }
        }
        return Err(FlagsError::Bad(format!(
            "Failed to load unknown flag '{name}'"
        )));
    }
    Ok(Flags { values })
}

/// Loads from the process's arguments and environment; prints help or the error and exits
/// on failure.
pub fn load_or_exit(program: &str, flags: &[Flag]) -> Flags {
    match load(program, flags, std::env::args().skip(1), |k| {
        std::env::var(k).ok()
    }) {
        Ok(f) => f,
        Err(FlagsError::Help(u)) => {
            print!("{u}");
            std::process::exit(0)
        }
        Err(FlagsError::Bad(e)) => {
            eprintln!("{e}\n\nSee --help for the flags.");
            std::process::exit(1)
        }
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("expecting a boolean, got '{v}'")),
    }
}

/// A duration in stout's form: a number and a unit (`ns`, `us`, `ms`, `secs`, `mins`, `hrs`,
/// `days`, `weeks`), e.g. `15secs`, `0.5mins`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{text}' has no unit (e.g. 15secs)"))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a number followed by a unit"))?;
    let secs = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "secs" => 1.0,
        "mins" => 60.0,
        "hrs" => 3600.0,
        "days" => 86400.0,
        "weeks" => 604800.0,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{unit}' (ns, us, ms, secs, mins, hrs, days, weeks)"
            ))
        }
    };
    Duration::try_from_secs_f64(n * secs).map_err(|e| format!("'{text}': {e}"))
}

impl Flags {
    /// A flag's value (or default).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required flag's value.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("Flag '--{name}' is required"))
    }

    /// A boolean flag.
    pub fn bool(&self, name: &str) -> Result<bool, String> {
        self.get(name)
            .map_or(Ok(false), parse_bool)
            .map_err(|e| format!("Flag '--{name}': {e}"))
    }

    /// A duration flag, if set.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, String> {
        self.get(name)
            .map(parse_duration)
            .transpose()
            .map_err(|e| format!("Flag '--{name}': {e}"))
    }

    /// A number flag, if set.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| format!("Flag '--{name}': '{v}' is not a valid number"))
            })
            .transpose()
    }

    /// Sets a flag's text (a name of any table: nested flags read the same values).
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), String> {
        self.values.insert(name.to_string(), text.to_string());
        Ok(())
    }

    /// Flags holding only the defaults of `table`.
    pub fn defaults(table: &[Flag]) -> Flags {
        let values = table
            .iter()
            .filter_map(|f| f.default.map(|d| (f.name.to_string(), d.to_string())))
            .collect();
        Flags { values }
    }

    /// A flag's value parsed as `T`: its text if loaded, else `default`, else what `T` is when
    /// absent (`None` for an option; an error naming a required flag otherwise).
    pub fn value<T: FlagValue>(&self, name: &str, default: Option<&str>) -> Result<T, String> {
        match self.get(name).or(default) {
            Some(text) => T::parse_flag(text).map_err(|e| format!("Flag '--{name}': {e}")),
            None => T::absent(name),
        }
    }
}

/// A value a flag can hold, read from its text the way stout reads it.
pub trait FlagValue: Sized {
    /// Whether the flag is a boolean (`--name`, `--no-name`).
    const BOOLEAN: bool = false;

    /// Parses the flag's text.
    fn parse_flag(text: &str) -> Result<Self, String>;

    /// The value as text, the way `/flags` shows it (parsing it back gives the same value).
    fn show(&self) -> String;

    /// The value of a flag that was not given and has no default.
    fn absent(name: &str) -> Result<Self, String> {
        Err(format!("Flag '--{name}' is required"))
    }
}

impl FlagValue for String {
    fn parse_flag(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl FlagValue for PathBuf {
    fn parse_flag(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl FlagValue for bool {
    const BOOLEAN: bool = true;
    fn parse_flag(text: &str) -> Result<Self, String> {
        parse_bool(text)
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn absent(_: &str) -> Result<Self, String> {
        Ok(false)
    }
}

/// Shown in seconds (`15secs`, `0.05secs`, `60secs`), which stout parses back.
impl FlagValue for Duration {
    fn parse_flag(text: &str) -> Result<Self, String> {
        parse_duration(text)
    }
    fn show(&self) -> String {
        show_duration(*self)
    }
}

impl FlagValue for IpAddr {
    fn parse_flag(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| format!("'{text}' is not an IP address"))
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

macro_rules! number_flag {
    ($($t:ty),*) => {$(
        impl FlagValue for $t {
            fn parse_flag(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|_| format!("'{text}' is not a valid number"))
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
number_flag!(u16, u32, u64, usize, i32, i64, f64);

/// An unset optional flag shows as the empty string.
impl<T: FlagValue> FlagValue for Option<T> {
    fn parse_flag(text: &str) -> Result<Self, String> {
        T::parse_flag(text).map(Some)
    }
    fn show(&self) -> String {
        self.as_ref().map(T::show).unwrap_or_default()
    }
    fn absent(_: &str) -> Result<Self, String> {
        Ok(None)
    }
}

/// A comma-separated list (`0,1`).
impl<T: FlagValue> FlagValue for Vec<T> {
    fn parse_flag(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(T::parse_flag)
            .collect()
    }
    fn show(&self) -> String {
        self.iter().map(T::show).collect::<Vec<_>>().join(",")
    }
    fn absent(_: &str) -> Result<Self, String> {
        Ok(Vec::new())
    }
}

/// A duration as `/flags` shows it: in seconds (`15secs`, `0.05secs`), a form stout parses
/// back. (Mesos picks the largest whole unit, `50ms`; ours has always shown seconds.)
pub fn show_duration(d: Duration) -> String {
    format!("{}secs", d.as_secs_f64())
}

/// A byte size the way stout prints one: in the largest unit that loses nothing (`2GB`,
/// `1536KB`, `10B`).
pub fn show_bytes(bytes: u64) -> String {
    let mut n = bytes;
    for unit in ["B", "KB", "MB", "GB"] {
        if n == 0 || n & 1023 != 0 {
            return format!("{n}{unit}");
        }
        n /= 1024;
    }
    format!("{n}TB")
}

/// A byte size in stout's form (`2GB`, `512MB`, `100KB`, `10B`, or a plain number of bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

impl FlagValue for Bytes {
    fn parse_flag(text: &str) -> Result<Self, String> {
        parse_bytes(text)
            .map(Bytes)
            .ok_or_else(|| format!("'{text}' is not a size like 2GB"))
    }
    fn show(&self) -> String {
        show_bytes(self.0)
    }
}

/// A byte size in stout's form (`2GB`, `512MB`, `100KB`, `10B`, or a plain number of bytes).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
    .unwrap_or((s, 1));
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as u64)
}

/// Checks for [`flags!`](crate::flags!) fields (`check positive`): each takes the flag's name
/// and its value.
pub mod check {
    use std::time::Duration;

    /// A duration flag (or an optional one, when given) must be more than zero.
    pub fn positive<T: AsDuration>(name: &str, v: &T) -> Result<(), String> {
        match v.as_duration() {
            Some(d) if d.is_zero() => Err(format!("Flag '--{name}' must be positive")),
            _ => Ok(()),
        }
    }

    /// A number flag must be at least 1.
    pub fn at_least_one<T: Copy + Into<u64>>(name: &str, v: &T) -> Result<(), String> {
        if (*v).into() == 0 {
            return Err(format!("Flag '--{name}' must be at least 1"));
        }
        Ok(())
    }

    /// Durations and optional durations.
    pub trait AsDuration {
        /// The duration, if there is one.
        fn as_duration(&self) -> Option<Duration>;
    }

    impl AsDuration for Duration {
        fn as_duration(&self) -> Option<Duration> {
            Some(*self)
        }
    }

    impl AsDuration for Option<Duration> {
        fn as_duration(&self) -> Option<Duration> {
            *self
        }
    }
}

/// `Some(default)` from an optional literal (used by [`flags!`](crate::flags!)).
#[doc(hidden)]
#[macro_export]
macro_rules! __flag_default {
    () => {
        None
    };
    ($d:literal) => {
        Some($d)
    };
}

/// A computed default (`=> { ... }`) or what a flag's type is when absent (used by
/// [`flags!`](crate::flags!)).
#[doc(hidden)]
#[macro_export]
macro_rules! __flag_absent {
    ($name:expr, $ty:ty,) => {
        <$ty as $crate::flags::FlagValue>::absent($name)?
    };
    ($name:expr, $ty:ty, $d:block) => {
        $d
    };
}

/// Parses a flag's text by its type, or with the field's own parser (`, parse f`).
#[doc(hidden)]
#[macro_export]
macro_rules! __flag_parse {
    ($text:expr, $ty:ty,) => {
        <$ty as $crate::flags::FlagValue>::parse_flag($text)
    };
    ($text:expr, $ty:ty, $p:path) => {
        $p($text)
    };
}

/// Shows a flag's value by its type, or with the field's own function (`, show f`).
#[doc(hidden)]
#[macro_export]
macro_rules! __flag_show {
    ($v:expr, $ty:ty,) => {
        <$ty as $crate::flags::FlagValue>::show($v)
    };
    ($v:expr, $ty:ty, $s:path) => {
        $s($v)
    };
}

/// Declares a struct of flags, each once: its doc comment is its help, `| alias` adds the
/// names it also answers to, `= "text"` its default (parsed as if given), `=> { expr }` a
/// default computed from the flags declared before it (not shown in `--help`), `, parse f` a
/// parser of its own (`fn(&str) -> Result<T, String>`) instead of its type's [`FlagValue`],
/// `, show f` the text its value shows as (`fn(&T) -> String`, for a field with its own
/// parser) instead of [`FlagValue::show`], and `, check f` checks its parsed value (see
/// [`check`](crate::flags::check)). Fields in `extra |f| { ... }` are not flags: their values
/// are expressions that may use the loaded flags `f` and the flags declared above.
///
/// The macro makes the struct, `FLAGS` (its table, for [`load`] and `--help`), `from_flags`,
/// `from_defaults` and `flag_values` (every flag's name and value as text, for `/flags`).
///
/// ```
/// use std::time::Duration;
/// libprocess::flags! {
///     /// A demo's flags.
///     #[derive(Clone, Debug)]
///     pub struct Demo {
///         /// Time between rounds
///         pub interval | round_interval: Duration = "1secs", check libprocess::flags::check::positive;
///         /// Where to write
///         pub dir: std::path::PathBuf = "/tmp";
///         /// Where to keep the cache (default: <dir>/cache)
///         pub cache: std::path::PathBuf => { dir.join("cache") };
///     }
///     extra |_f| {
///         /// Not a flag.
///         pub rounds: u32 = 3,
///     }
/// }
/// let d = Demo::from_defaults(&[]).unwrap();
/// assert_eq!(d.interval, Duration::from_secs(1));
/// assert_eq!(d.cache, std::path::Path::new("/tmp/cache"));
/// assert_eq!(Demo::FLAGS[0].aliases, ["round_interval"]);
/// assert_eq!(d.flag_values()[0], ("interval", "1secs".to_string()));
/// assert_eq!(d.flag_values()[2], ("cache", "/tmp/cache".to_string()));
/// let f = libprocess::flags::load("demo", Demo::FLAGS, ["--round_interval=0secs".to_string()], |_| None).unwrap();
/// assert!(Demo::from_flags(&f).unwrap_err().contains("must be positive"));
/// ```
#[macro_export]
macro_rules! flags {
    (
        $(#[$sm:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $fvis:vis $field:ident $(| $alias:ident)* : $ty:ty
                    $(= $default:literal)? $(=> $dexpr:block)?
                    $(, parse $parser:path)? $(, show $shower:path)? $(, check $check:path)* ;
            )*
        }
        $(
            extra |$f:ident| {
                $(
                    $(#[$em:meta])*
                    $evis:vis $efield:ident : $ety:ty = $eexpr:expr
                ),* $(,)?
            }
        )?
    ) => {
        $(#[$sm])*
        $vis struct $name {
            $( $(#[doc = $doc])* $fvis $field: $ty, )*
            $($( $(#[$em])* $evis $efield: $ety, )*)?
        }

        impl $name {
            /// The flags' table: names, aliases, help and defaults (for loading and `--help`).
            pub const FLAGS: &'static [$crate::flags::Flag] = &[
                $( $crate::flags::Flag {
                    name: stringify!($field),
                    aliases: &[$(stringify!($alias)),*],
                    help: concat!($($doc),*),
                    default: $crate::__flag_default!($($default)?),
                    boolean: <$ty as $crate::flags::FlagValue>::BOOLEAN,
                }, )*
            ];

            /// These flags from loaded ones (a flag missing from them takes its default),
            /// each parsed and checked.
            #[allow(clippy::redundant_closure_call, unused_variables)]
            pub fn from_flags(
                flags: &$crate::flags::Flags,
            ) -> ::std::result::Result<Self, String> {
                $(
                    let $field: $ty = {
                        let name = stringify!($field);
                        let v: $ty = match flags.get(name).or($crate::__flag_default!($($default)?)) {
                            Some(text) => $crate::__flag_parse!(text, $ty, $($parser)?)
                                .map_err(|e| format!("Flag '--{name}': {e}"))?,
                            None => $crate::__flag_absent!(name, $ty, $($dexpr)?),
                        };
                        $( $check(name, &v)?; )*
                        v
                    };
                )*
                $( let $f = flags; )?
                Ok($name {
                    $($($efield: $eexpr,)*)?
                    $( $field, )*
                })
            }

            /// Every flag's name and current value as text (as `/flags` shows them), in
            /// declaration order; an unset optional flag is the empty string.
            pub fn flag_values(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> {
                ::std::vec![
                    $( (stringify!($field), $crate::__flag_show!(&self.$field, $ty, $($shower)?)), )*
                ]
            }

            /// These flags at their defaults, with `given` (name, text) pairs set.
            pub fn from_defaults(given: &[(&str, &str)]) -> ::std::result::Result<Self, String> {
                let mut flags = $crate::flags::Flags::defaults(Self::FLAGS);
                for (k, v) in given {
                    flags.set(k, v)?;
                }
                Self::from_flags(&flags)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag::value("work_dir", None, "where"),
        Flag::value("port", Some("5050"), "port"),
        Flag::value("num_agents", Some("1"), "agents").alias(&["num_slaves"]),
        Flag::boolean("checkpoint", false, "checkpoint"),
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_beats_environment_beats_default() {
        let env = |k: &str| (k == "MESOS_PORT").then(|| "6060".to_string());
        let f = load("p", FLAGS, args(&[]), env).unwrap();
        assert_eq!(f.get("port"), Some("6060"));
        let f = load("p", FLAGS, args(&["--port=7070"]), env).unwrap();
        assert_eq!(f.get("port"), Some("7070"));
        let f = load("p", FLAGS, args(&[]), |_| None).unwrap();
        assert_eq!(f.get("port"), Some("5050"));
    }

    #[test]
    fn aliases_booleans_and_negation() {
        let f = load(
            "p",
            FLAGS,
            args(&["--num_slaves=3", "--checkpoint"]),
            |_| None,
        )
        .unwrap();
        assert_eq!(f.get("num_agents"), Some("3"));
        assert!(f.bool("checkpoint").unwrap());
        let f = load(
            "p",
            FLAGS,
            args(&["--checkpoint", "--no-checkpoint"]),
            |_| None,
        )
        .unwrap();
        assert!(!f.bool("checkpoint").unwrap());
        let env = |k: &str| (k == "MESOS_NUM_SLAVES").then(|| "4".to_string());
        assert_eq!(
            load("p", FLAGS, args(&[]), env).unwrap().get("num_agents"),
            Some("4")
        );
    }

    #[test]
    fn bad_flags_are_errors_that_name_them() {
        let e = load("p", FLAGS, args(&["--bogus=1"]), |_| None).unwrap_err();
        assert_eq!(
            e,
            FlagsError::Bad("Failed to load unknown flag 'bogus'".into())
        );
        let e = load("p", FLAGS, args(&["--work_dir"]), |_| None).unwrap_err();
        assert!(e.to_string().contains("'work_dir'"), "{e}");
        let e = load("p", FLAGS, args(&["--checkpoint=maybe"]), |_| None).unwrap_err();
        assert!(e.to_string().contains("'checkpoint'"), "{e}");
        let e = load("p", FLAGS, args(&["stray"]), |_| None).unwrap_err();
        assert!(e.to_string().contains("'stray'"), "{e}");
        let f = load("p", FLAGS, args(&["--port=abc"]), |_| None).unwrap();
        assert!(f.number::<u16>("port").unwrap_err().contains("--port"));
        let Err(FlagsError::Help(u)) = load("p", FLAGS, args(&["--help"]), |_| None) else {
            panic!("expected help")
        };
        assert!(u.contains("--num_agents=VALUE, --num_slaves"), "{u}");
    }

    #[test]
    fn durations_in_stout_form() {
        assert_eq!(parse_duration("15secs").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("0.5mins").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(
            parse_duration("2weeks").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("15parsecs").is_err());
        assert!(parse_duration("secs").is_err());
    }

    #[test]
    fn values_show_as_text_that_parses_back() {
        let d = Duration::from_millis(50);
        assert_eq!(d.show(), "0.05secs");
        assert_eq!(Duration::from_secs(60).show(), "60secs");
        assert_eq!(parse_duration(&d.show()).unwrap(), d);
        assert_eq!(Some(3u32).show(), "3");
        assert_eq!(None::<u32>.show(), "");
        assert_eq!(vec![0u32, 1].show(), "0,1");
        assert_eq!(true.show(), "true");
        for (n, text) in [
            (0, "0B"),
            (10, "10B"),
            (1536 << 10, "1536KB"),
            (2 << 30, "2GB"),
            (3 << 40, "3TB"),
            ((2 << 30) + 1, "2147483649B"),
        ] {
            assert_eq!(Bytes(n).show(), text);
            assert_eq!(parse_bytes(text), Some(n));
        }
    }
}
