//! Protobuf enums: written as their names in JSON and as their numbers in the binary codec.

/// Declares a protobuf enum with its wire names and numbers. With `fallback`, an unknown name
/// read from JSON becomes that variant (stout drops unknown values of optional enum fields).
macro_rules! proto_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $num:literal => $s:literal),+ $(,)? } $(fallback $fb:ident)?) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* #[doc = concat!("Wire name `", $s, "`, number ", stringify!($num), ".")] $var),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The protobuf name (`TASK_RUNNING`).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// The protobuf number.
            pub fn number(self) -> i32 {
                match self { $($name::$var => $num),+ }
            }

            /// By protobuf name.
            pub fn from_name(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }

            /// By protobuf number.
            pub fn from_number(n: i32) -> Option<$name> {
                match n { $($num => Some($name::$var),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(self.as_str())
                } else {
                    s.serialize_i32(self.number())
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                use serde::de::Error as _;
                if d.is_human_readable() {
                    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    match $name::from_name(&s) {
                        Some(v) => Ok(v),
                        None => {
                            $(return Ok($name::$fb);)?
                            #[allow(unreachable_code)]
                            Err(D::Error::custom(format!(
                                concat!("unknown ", stringify!($name), " '{}'"), s
                            )))
                        }
                    }
                } else {
                    let n = i32::deserialize(d)?;
                    $name::from_number(n).ok_or_else(|| {
                        D::Error::custom(format!(concat!("unknown ", stringify!($name), " {}"), n))
                    })
                }
            }
        }
    };
}

pub(crate) use proto_enum;
