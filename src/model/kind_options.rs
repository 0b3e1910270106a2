//! A model kind and its parameters as a user gives them, on the command line (`aeflow train --kind
//! sparse --sparsity-target 0.05`) or in SQL (`CREATE MODEL … OPTIONS (kind = 'sparse',
//! sparsity_target = 0.05)`), and the one set of rules that turns them into a [`Kind`]: the
//! defaults, the ranges, and the refusal of a parameter that belongs to another kind. Errors name
//! the option as the user wrote it ([`OptionSyntax`]).

use super::convolutional::{ConvolutionalConfig, Downsample, Upsampling};
use super::kind::Kind;
use super::variational::{VariationalConfig, VariationalScore};
use crate::error::{Error, Result};

/// Default std of the input noise of the denoising kind (scaled units) when neither `noise_std`
/// nor `mask_ratio` is given.
pub const DEFAULT_NOISE_STD: f32 = 0.1;
/// Default L1 activity weight of the sparse kind when no sparsity option is given.
pub const DEFAULT_L1_ACTIVITY: f32 = 1e-3;
/// Default weight of the KL sparsity penalty when `sparsity_target` is given alone.
pub const DEFAULT_SPARSITY_WEIGHT: f32 = 0.1;

/// How the user wrote the options, so that errors name them the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionSyntax {
    /// `--noise-std`, `--kind denoising`.
    Cli,
    /// `noise_std`, `kind = 'denoising'`.
    Sql,
}

impl OptionSyntax {
    /// An option's name (given in snake_case) as the user writes it.
    pub fn option(self, snake: &str) -> String {
        match self {
            OptionSyntax::Cli => format!("--{}", snake.replace('_', "-")),
            OptionSyntax::Sql => snake.to_string(),
        }
    }

    fn options(self, snakes: &[&str]) -> String {
        snakes
            .iter()
            .map(|s| self.option(s))
            .collect::<Vec<_>>()
            .join("/")
    }

    fn kind(self, name: &str) -> String {
        match self {
            OptionSyntax::Cli => format!("--kind {name}"),
            OptionSyntax::Sql => format!("kind = '{name}'"),
        }
    }
}

/// The kind and its parameters as given; `None`: not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindOptions {
    /// `vanilla` (default), `denoising`, `sparse`, `variational` or `convolutional`.
    pub kind: Option<String>,
    /// Denoising: std of the Gaussian input noise.
    pub noise_std: Option<f32>,
    /// Denoising: fraction of inputs zeroed.
    pub mask_ratio: Option<f32>,
    /// Sparse: L1 weight on the latent activations.
    pub l1_activity: Option<f32>,
    /// Sparse: target mean activation of the KL penalty, in (0, 1).
    pub sparsity_target: Option<f32>,
    /// Sparse: weight of the KL penalty (needs `sparsity_target`).
    pub sparsity_weight: Option<f32>,
    /// Variational: weight β of the KL term.
    pub beta: Option<f32>,
    /// Variational: epochs of β warm-up.
    pub kl_warmup: Option<usize>,
    /// Variational: the anomaly score.
    pub anomaly_score: Option<VariationalScore>,
    /// Convolutional: shape of one row, `[C, L]` or `[C, H, W]`.
    pub input_shape: Option<Vec<usize>>,
    /// Convolutional: filters per encoder block.
    pub filters: Option<Vec<usize>>,
    /// Convolutional: kernel size, one for all blocks or one per block.
    pub kernel_size: Option<Vec<usize>>,
    /// Convolutional: how blocks halve the size.
    pub downsample: Option<Downsample>,
    /// Convolutional: how the decoder doubles it.
    pub upsample: Option<Upsampling>,
}

impl KindOptions {
    /// The kind, with defaults filled in and every parameter checked.
    pub fn to_kind(&self, syntax: OptionSyntax) -> Result<Kind> {
        let kind = self.kind.as_deref().unwrap_or("vanilla");
        let only = |given: bool, names: &[&str], owner: &str| -> Result<()> {
            if given && kind != owner {
                return Err(Error::config(
                    syntax.options(names),
                    format!("apply to {} only", syntax.kind(owner)),
                ));
            }
            Ok(())
        };
        only(
            self.noise_std.is_some() || self.mask_ratio.is_some(),
            &["noise_std", "mask_ratio"],
            "denoising",
        )?;
        only(
            self.l1_activity.is_some()
                || self.sparsity_target.is_some()
                || self.sparsity_weight.is_some(),
            &["l1_activity", "sparsity_target", "sparsity_weight"],
            "sparse",
        )?;
        only(
            self.beta.is_some() || self.kl_warmup.is_some() || self.anomaly_score.is_some(),
            &["beta", "kl_warmup", "anomaly_score"],
            "variational",
        )?;
        only(
            self.input_shape.is_some()
                || self.filters.is_some()
                || self.kernel_size.is_some()
                || self.downsample.is_some()
                || self.upsample.is_some(),
            &[
                "input_shape",
                "filters",
                "kernel_size",
                "downsample",
                "upsample",
            ],
            "convolutional",
        )?;
        let range = |name: &str, v: f32, lo: f64, hi: f64, inclusive: bool| {
            in_range(&syntax.option(name), v as f64, lo, hi, inclusive)
        };
        Ok(match kind {
            "denoising" => {
                let default_noise = if self.mask_ratio.is_some() {
                    0.0
                } else {
                    DEFAULT_NOISE_STD
                };
                let noise_std = self.noise_std.unwrap_or(default_noise);
                let mask_ratio = self.mask_ratio.unwrap_or(0.0);
                range("noise_std", noise_std, 0.0, f64::MAX, true)?;
                range("mask_ratio", mask_ratio, 0.0, 1.0, false)?;
                Kind::Denoising {
                    noise_std,
                    mask_ratio,
                }
            }
            "sparse" => {
                if let Some(t) = self.sparsity_target {
                    range("sparsity_target", t, 0.0, 1.0, false)?;
                    if t == 0.0 {
                        return Err(Error::config(
                            syntax.option("sparsity_target"),
                            "expected a value in (0, 1)",
                        ));
                    }
                }
                if self.sparsity_weight.is_some() && self.sparsity_target.is_none() {
                    return Err(Error::config(
                        syntax.option("sparsity_weight"),
                        format!(
                            "needs {} (the mean activation to pull toward)",
                            syntax.option("sparsity_target")
                        ),
                    ));
                }
                let default_l1 = if self.sparsity_target.is_some() {
                    0.0
                } else {
                    DEFAULT_L1_ACTIVITY
                };
                let l1_activity = self.l1_activity.unwrap_or(default_l1);
                let sparsity_weight = self.sparsity_weight.unwrap_or(DEFAULT_SPARSITY_WEIGHT);
                range("l1_activity", l1_activity, 0.0, f64::MAX, true)?;
                range("sparsity_weight", sparsity_weight, 0.0, f64::MAX, true)?;
                Kind::Sparse {
                    l1_activity,
                    sparsity_target: self.sparsity_target,
                    sparsity_weight,
                }
            }
            "variational" => {
                let mut v = VariationalConfig::default();
                if let Some(b) = self.beta {
                    range("beta", b, 0.0, f64::MAX, true)?;
                    v.beta = b;
                }
                v.kl_warmup = self.kl_warmup.unwrap_or(v.kl_warmup);
                v.score = self.anomaly_score.unwrap_or(v.score);
                Kind::Variational(v)
            }
            "convolutional" => {
                let Some(shape) = &self.input_shape else {
                    let example = match syntax {
                        OptionSyntax::Cli => {
                            "channels,length (e.g. 1,128) or channels,height,width (e.g. 1,28,28)"
                        }
                        OptionSyntax::Sql => "[1, 28, 28] or [1, 128]",
                    };
                    return Err(Error::config(
                        syntax.option("input_shape"),
                        format!(
                            "{} needs the shape of one row: {example}",
                            syntax.kind("convolutional")
                        ),
                    ));
                };
                let mut c = ConvolutionalConfig::new(shape.clone());
                if let Some(f) = &self.filters {
                    c.filters = f.clone();
                }
                if let Some(k) = &self.kernel_size {
                    c.kernel_size = k.clone();
                }
                c.downsample = self.downsample.unwrap_or(c.downsample);
                c.upsample = self.upsample.unwrap_or(c.upsample);
                c.validate().map_err(|e| match e {
                    Error::Config { option, message } => {
                        Error::config(syntax.option(&option), message)
                    }
                    other => other,
                })?;
                Kind::Convolutional(c)
            }
            "vanilla" => Kind::Vanilla,
            other => {
                return Err(Error::config(
                    syntax.option("kind"),
                    format!(
                        "unknown kind '{other}'; expected vanilla, denoising, sparse, variational or convolutional"
                    ),
                ));
            }
        })
    }
}

/// `lo <= v < hi` (or `<= hi` when `inclusive`), else an error naming `option`.
pub(crate) fn in_range(option: &str, v: f64, lo: f64, hi: f64, inclusive: bool) -> Result<()> {
    let ok = v.is_finite() && v >= lo && if inclusive { v <= hi } else { v < hi };
    if ok {
        return Ok(());
    }
    let bound = if hi == f64::MAX {
        format!("at least {lo}")
    } else if inclusive {
        format!("in [{lo}, {hi}]")
    } else {
        format!("in [{lo}, {hi})")
    };
    Err(Error::config(
        option,
        format!("expected a value {bound}, got {v}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kind: &str) -> KindOptions {
        KindOptions {
            kind: Some(kind.into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_the_parameter_that_changes_them() {
        let k = |o: KindOptions| o.to_kind(OptionSyntax::Cli).unwrap();
        assert_eq!(k(KindOptions::default()), Kind::Vanilla);
        assert_eq!(
            k(opts("denoising")),
            Kind::Denoising {
                noise_std: DEFAULT_NOISE_STD,
                mask_ratio: 0.0
            }
        );
        assert_eq!(
            k(KindOptions {
                mask_ratio: Some(0.2),
                ..opts("denoising")
            }),
            Kind::Denoising {
                noise_std: 0.0,
                mask_ratio: 0.2
            }
        );
        assert_eq!(
            k(KindOptions {
                sparsity_target: Some(0.05),
                ..opts("sparse")
            }),
            Kind::Sparse {
                l1_activity: 0.0,
                sparsity_target: Some(0.05),
                sparsity_weight: DEFAULT_SPARSITY_WEIGHT
            }
        );
        assert_eq!(
            k(opts("variational")),
            Kind::Variational(VariationalConfig::default())
        );
    }

    #[test]
    fn errors_name_the_option_as_the_user_wrote_it() {
        let err = |o: &KindOptions, s| o.to_kind(s).unwrap_err().to_string();
        let o = KindOptions {
            noise_std: Some(0.1),
            ..opts("sparse")
        };
        assert!(err(&o, OptionSyntax::Cli).contains("--noise-std/--mask-ratio"));
        assert!(err(&o, OptionSyntax::Cli).contains("apply to --kind denoising only"));
        assert!(err(&o, OptionSyntax::Sql).contains("noise_std/mask_ratio"));
        assert!(err(&o, OptionSyntax::Sql).contains("apply to kind = 'denoising' only"));
        let o = KindOptions {
            mask_ratio: Some(1.0),
            ..opts("denoising")
        };
        assert!(
            err(&o, OptionSyntax::Cli).contains("--mask-ratio"),
            "{}",
            err(&o, OptionSyntax::Cli)
        );
        let o = KindOptions {
            sparsity_weight: Some(0.1),
            ..opts("sparse")
        };
        assert!(err(&o, OptionSyntax::Sql).contains("needs sparsity_target"));
        let o = opts("convolutional");
        assert!(
            err(&o, OptionSyntax::Sql)
                .contains("kind = 'convolutional' needs the shape of one row")
        );
        let o = KindOptions {
            input_shape: Some(vec![1, 28, 28]),
            kernel_size: Some(vec![4]),
            ..opts("convolutional")
        };
        assert!(
            err(&o, OptionSyntax::Cli).contains("--kernel-size"),
            "{}",
            err(&o, OptionSyntax::Cli)
        );
        assert!(err(&opts("fancy"), OptionSyntax::Cli).contains("unknown kind 'fancy'"));
    }
}
