// Classification metrics (scikit-learn's definitions), fold summaries and the paired t-test that
// compares two arms fold by fold.

export {
  MetricsError,
  accuracy,
  averageReports,
  classificationReport,
  confusionMatrix,
  formatFixed,
  logLoss,
  meanStd,
  precisionRecallFscoreSupport,
  type AveragedReport,
  type AveragedRow,
  type Averages,
  type ClassificationReport,
  type IllDefined,
  type Labels,
  type LogLossOptions,
  type MeanStd,
  type PrecisionRecallFscoreSupport,
  type ReportOptions,
  type ReportRow,
} from './classification.js';
export { holmAdjust, pairedTTest, type PairedTest } from './stats.js';
