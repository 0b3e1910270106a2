//! A model kind and its parameters as a user gives them, on the command line (`aeflow train --kind
//! sparse --sparsity-target 0.05`) or in SQL (`CREATE MODEL … OPTIONS (kind = 'sparse',
//! sparsity_target = 0.05)`), and the one set of rules that turns them into a [`Kind`]: the
//! refusal of a parameter that belongs to another kind (the option table says which kind each
//! belongs to), the defaults of each kind, and its checks ([`Kind::validate`]). Errors name the
//! options neutrally (`sparsity_target`); surfaces spell them ([`super::options::respell`]).

use super::convolutional::{ConvolutionalConfig, Downsample, Upsampling};
use super::kind::Kind;
use super::options::{TRAIN_OPTIONS, mention, mention_value, option_spec};
use super::variational::{VariationalConfig, VariationalScore};
use crate::error::{Error, Result};

/// Default std of the input noise of the denoising kind (scaled units) when neither `noise_std`
/// nor `mask_ratio` is given.
pub const DEFAULT_NOISE_STD: f32 = 0.1;
/// Default L1 activity weight of the sparse kind when no sparsity option is given.
pub const DEFAULT_L1_ACTIVITY: f32 = 1e-3;
/// Default weight of the KL sparsity penalty when `sparsity_target` is given alone.
pub const DEFAULT_SPARSITY_WEIGHT: f32 = 0.1;

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
    pub fn to_kind(&self) -> Result<Kind> {
        let kind = self.kind.as_deref().unwrap_or("vanilla");
        self.check_owners(kind)?;
        let k = match kind {
            "vanilla" => Kind::Vanilla,
            "denoising" => self.denoising(),
            "sparse" => self.sparse()?,
            "variational" => self.variational(),
            "convolutional" => self.convolutional()?,
            other => {
                let kinds = option_spec("kind").map(|s| s.value.expected());
                return Err(Error::config(
                    "kind",
                    format!(
                        "unknown kind '{other}'; expected {}",
                        kinds.unwrap_or_default()
                    ),
                ));
            }
        };
        k.validate()?;
        Ok(k)
    }

    /// The names of the parameters given.
    fn given(&self) -> impl Iterator<Item = &'static str> {
        [
            ("noise_std", self.noise_std.is_some()),
            ("mask_ratio", self.mask_ratio.is_some()),
            ("l1_activity", self.l1_activity.is_some()),
            ("sparsity_target", self.sparsity_target.is_some()),
            ("sparsity_weight", self.sparsity_weight.is_some()),
            ("beta", self.beta.is_some()),
            ("kl_warmup", self.kl_warmup.is_some()),
            ("anomaly_score", self.anomaly_score.is_some()),
            ("input_shape", self.input_shape.is_some()),
            ("filters", self.filters.is_some()),
            ("kernel_size", self.kernel_size.is_some()),
            ("downsample", self.downsample.is_some()),
            ("upsample", self.upsample.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
    }

    /// A parameter given for another kind than `kind` is an error naming that kind's parameters.
    fn check_owners(&self, kind: &str) -> Result<()> {
        for name in self.given() {
            let Some(owner) = option_spec(name).and_then(|s| s.kind) else {
                continue;
            };
            if owner != kind {
                let group: Vec<&str> = TRAIN_OPTIONS
                    .iter()
                    .filter(|s| s.kind == Some(owner))
                    .map(|s| s.name)
                    .collect();
                return Err(Error::config(
                    group.join("/"),
                    format!("apply to {} only", mention_value("kind", owner)),
                ));
            }
        }
        Ok(())
    }

    /// Noise of [`DEFAULT_NOISE_STD`] unless only `mask_ratio` is given.
    fn denoising(&self) -> Kind {
        let default_noise = if self.mask_ratio.is_some() {
            0.0
        } else {
            DEFAULT_NOISE_STD
        };
        Kind::Denoising {
            noise_std: self.noise_std.unwrap_or(default_noise),
            mask_ratio: self.mask_ratio.unwrap_or(0.0),
        }
    }

    /// An L1 penalty of [`DEFAULT_L1_ACTIVITY`] unless a KL target is given.
    fn sparse(&self) -> Result<Kind> {
        if self.sparsity_weight.is_some() && self.sparsity_target.is_none() {
            return Err(Error::config(
                "sparsity_weight",
                format!(
                    "needs {} (the mean activation to pull toward)",
                    mention("sparsity_target")
                ),
            ));
        }
        let default_l1 = if self.sparsity_target.is_some() {
            0.0
        } else {
            DEFAULT_L1_ACTIVITY
        };
        Ok(Kind::Sparse {
            l1_activity: self.l1_activity.unwrap_or(default_l1),
            sparsity_target: self.sparsity_target,
            sparsity_weight: self.sparsity_weight.unwrap_or(DEFAULT_SPARSITY_WEIGHT),
        })
    }

    fn variational(&self) -> Kind {
        let d = VariationalConfig::default();
        Kind::Variational(VariationalConfig {
            beta: self.beta.unwrap_or(d.beta),
            kl_warmup: self.kl_warmup.unwrap_or(d.kl_warmup),
            score: self.anomaly_score.unwrap_or(d.score),
        })
    }

    /// `input_shape` is required; the rest default as in [`ConvolutionalConfig::new`].
    fn convolutional(&self) -> Result<Kind> {
        let Some(shape) = &self.input_shape else {
            return Err(Error::config(
                "input_shape",
                format!(
                    "{} needs the shape of one row: channels,length (e.g. 1,128) or channels,height,width (e.g. 1,28,28)",
                    mention_value("kind", "convolutional")
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
        Ok(Kind::Convolutional(c))
    }
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
        let k = |o: KindOptions| o.to_kind().unwrap();
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

    /// Errors name options neutrally and mark the options they mention, for surfaces to spell.
    #[test]
    fn errors_name_the_option_neutrally() {
        let err = |o: &KindOptions| o.to_kind().unwrap_err().to_string();
        let o = KindOptions {
            noise_std: Some(0.1),
            ..opts("sparse")
        };
        assert_eq!(
            err(&o),
            "invalid value for noise_std/mask_ratio: apply to `kind = denoising` only"
        );
        let o = KindOptions {
            mask_ratio: Some(1.0),
            ..opts("denoising")
        };
        assert!(err(&o).contains("mask_ratio"), "{}", err(&o));
        let o = KindOptions {
            sparsity_weight: Some(0.1),
            ..opts("sparse")
        };
        assert!(err(&o).contains("sparsity_weight: needs `sparsity_target`"));
        let o = KindOptions {
            sparsity_target: Some(0.0),
            ..opts("sparse")
        };
        assert!(err(&o).contains("sparsity_target"), "{}", err(&o));
        assert!(
            err(&opts("convolutional"))
                .contains("input_shape: `kind = convolutional` needs the shape of one row")
        );
        let o = KindOptions {
            input_shape: Some(vec![1, 28, 28]),
            kernel_size: Some(vec![4]),
            ..opts("convolutional")
        };
        assert!(err(&o).contains("kernel_size: must be odd"), "{}", err(&o));
        assert!(err(&opts("fancy")).contains(
            "unknown kind 'fancy'; expected one of vanilla, denoising, sparse, variational, convolutional"
        ));
    }
}
