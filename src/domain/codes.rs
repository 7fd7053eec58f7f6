//! `code_enum!`: closed sets of codes (statuses, levels, purposes) that travel as
//! short strings in the database, the lake, CSV and JSON. One macro keeps the
//! string form, the parser and serde in step for all of them.

/// Declares a fieldless enum with a stable string code per variant, `ALL`, `as_str`,
/// `parse` (an unknown code is a [`DomainError`](super::DomainError) naming `$field`),
/// `Display`, `FromStr` and serde as the code.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident, field = $field:literal { $($(#[$vmeta:meta])* $var:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $var),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $code),+ }
            }

            pub fn parse(s: &str) -> Result<Self, $crate::domain::DomainError> {
                match s.trim() {
                    $($code => Ok($name::$var),)+
                    other => Err($crate::domain::DomainError::invalid(
                        $field,
                        format!("unknown code {other:?} (expected one of: {})", [$($code),+].join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Self::parse(s) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use code_enum;
