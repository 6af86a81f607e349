//! Destination variables: `DestinationVar<T>` (one, or a tuple for several) and
//! `DestinationVars` (all of them).

use std::str::FromStr;

use super::{DestinationVarRejection, FromMessage};
use crate::app::MessageContext;

/// Destination variables captured by the route template (Spring's
/// `@DestinationVariable`): `DestinationVar<String>` for a route with one `{var}`,
/// `DestinationVar<(String, u32)>` for two, in template order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationVar<T>(pub T);

/// One destination variable's value type. Implemented for `String` and the primitive
/// number, `bool` and `char` types; implement it for your own types (usually through
/// `FromStr`).
pub trait DestinationVarValue: Sized {
    /// Parses the captured text.
    fn parse_var(text: &str) -> Result<Self, String>;
}

macro_rules! from_str_var {
    ($($t:ty),*) => {$(
        impl DestinationVarValue for $t {
            fn parse_var(text: &str) -> Result<Self, String> {
                <$t as FromStr>::from_str(text).map_err(|e| e.to_string())
            }
        }
    )*};
}

from_str_var!(
    String, bool, char, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

/// What a [`DestinationVar`] can hold: one [`DestinationVarValue`] or a tuple of them.
#[diagnostic::on_unimplemented(
    message = "`DestinationVar<{Self}>` is not supported",
    note = "use a `DestinationVarValue` (String, numbers, bool, char, or your own impl) or a tuple of up to 4"
)]
pub trait FromDestinationVars: Sized {
    /// Builds the value from the captured variables, in template order.
    fn from_vars(vars: &[(&str, &str)]) -> Result<Self, DestinationVarRejection>;
}

fn parse<T: DestinationVarValue>(
    (name, value): (&str, &str),
) -> Result<T, DestinationVarRejection> {
    T::parse_var(value).map_err(|reason| DestinationVarRejection::Invalid {
        name: name.to_owned(),
        value: value.chars().take(64).collect(),
        reason,
    })
}

fn expect(vars: &[(&str, &str)], n: usize) -> Result<(), DestinationVarRejection> {
    if vars.len() == n {
        Ok(())
    } else {
        Err(DestinationVarRejection::WrongCount {
            expected: n,
            got: vars.len(),
        })
    }
}

impl<T: DestinationVarValue> FromDestinationVars for T {
    fn from_vars(vars: &[(&str, &str)]) -> Result<Self, DestinationVarRejection> {
        expect(vars, 1)?;
        parse(vars[0])
    }
}

macro_rules! tuple_vars {
    ($n:literal; $($t:ident $i:tt),*) => {
        impl<$($t: DestinationVarValue),*> FromDestinationVars for ($($t,)*) {
            fn from_vars(vars: &[(&str, &str)]) -> Result<Self, DestinationVarRejection> {
                expect(vars, $n)?;
                Ok(($(parse::<$t>(vars[$i])?,)*))
            }
        }
    };
}

tuple_vars!(1; A 0);
tuple_vars!(2; A 0, B 1);
tuple_vars!(3; A 0, B 1, C 2);
tuple_vars!(4; A 0, B 1, C 2, D 3);

impl<S: Sync, T: FromDestinationVars> FromMessage<S> for DestinationVar<T> {
    type Rejection = DestinationVarRejection;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, DestinationVarRejection> {
        let vars: Vec<(&str, &str)> = ctx.vars().collect();
        T::from_vars(&vars).map(DestinationVar)
    }
}

/// Every destination variable by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationVars(pub Vec<(String, String)>);

impl DestinationVars {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Sync> FromMessage<S> for DestinationVars {
    type Rejection = std::convert::Infallible;

    async fn from_message(ctx: &MessageContext, _: &S) -> Result<Self, Self::Rejection> {
        Ok(DestinationVars(
            ctx.vars()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_tuples() {
        assert_eq!(String::from_vars(&[("a", "x")]), Ok("x".to_owned()));
        assert_eq!(
            <(String, u32)>::from_vars(&[("a", "x"), ("b", "7")]),
            Ok(("x".into(), 7))
        );
        assert_eq!(
            u32::from_vars(&[("a", "x"), ("b", "7")]),
            Err(DestinationVarRejection::WrongCount {
                expected: 1,
                got: 2
            })
        );
        assert!(matches!(
            u32::from_vars(&[("n", "x")]),
            Err(DestinationVarRejection::Invalid { ref name, .. }) if name == "n"
        ));
    }
}
