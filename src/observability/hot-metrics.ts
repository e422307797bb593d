/**
 * Counters and histograms for the request path. prom-client's labelled children hash and
 * validate their labels on every inc()/observe(); these keep plain numbers per label set, resolved
 * once, and are rendered by the same registry at scrape time (prom-client's custom-metric hook).
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

function labelKey(labels: Labels): string {
  return JSON.stringify(labels);
}

abstract class HotMetric<Child> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  protected readonly children = new Map<string, { labels: Labels; child: Child }>();

  constructor(registry: Registry, name: string, help: string) {
    this.name = name;
    this.help = help;
    registry.registerMetric(this as never);
  }

  /** The series for these labels; keep it, calling it per request defeats the purpose. */
  labels(labels: Labels): Child {
    const key = labelKey(labels);
    let entry = this.children.get(key);
    if (entry === undefined) this.children.set(key, (entry = { labels, child: this.create() }));
    return entry.child;
  }

  protected abstract create(): Child;
}

export class HotCounterChild {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class HotCounter extends HotMetric<HotCounterChild> {
  readonly type = 'counter';
  protected create(): HotCounterChild {
    return new HotCounterChild();
  }
  get() {
    const values: Sample[] = [...this.children.values()].map(({ labels, child }) => ({ labels, value: child.value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class HotHistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const { bounds } = this;
    // Few buckets, most observations land in the first ones: a linear scan is the fastest.
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HotHistogram extends HotMetric<HotHistogramChild> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(registry: Registry, name: string, help: string, buckets: readonly number[]) {
    super(registry, name, help);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  protected create(): HotHistogramChild {
    return new HotHistogramChild(this.buckets);
  }

  get() {
    const values: Sample[] = [];
    for (const { labels, child } of this.children.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += child.counts[i]!;
        values.push({ labels: { ...labels, le: String(le) }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: child.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
