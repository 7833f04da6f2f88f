//! Stable codes (finding, pre-flight, actions): one table declares each variant and the kebab-case
//! text pipelines match on, so the enum, its serialization, its display and the list of
//! texts cannot disagree.

/// Declares `enum $name` from `Variant => "text"` rows (each optionally with its own doc
/// comment), with `ALL`, `as_str`, `Display`, serialization as the text, and
/// `const $texts: &[&str]`.
macro_rules! stable_codes {
    ($(#[$meta:meta])* $vis:vis enum $name:ident, $texts:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        $vis enum $name {
            $(
                #[doc = $text]
                $(#[$vmeta])*
                #[serde(rename = $text)]
                $variant,
            )*
        }

        impl $name {
            /// Every code, in the order of the table.
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The stable text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        /// The stable texts of every code, in the order of the table.
        $vis const $texts: &[&str] = &[$($text,)*];
    };
}

pub(crate) use stable_codes;
