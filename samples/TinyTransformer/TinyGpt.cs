using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TinyTransformer;

/// <summary>Causal multi-head self-attention: each position attends to itself and the positions before it.</summary>
internal sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly Dropout attn_drop;
    private readonly Dropout resid_drop;
    private readonly int _heads;

    public CausalSelfAttention(int width, int heads, double dropout) : base(nameof(CausalSelfAttention))
    {
        if (width % heads != 0) throw new ArgumentException("The width must be a multiple of the head count.", nameof(heads));
        _heads = heads;
        qkv = nn.Linear(width, 3 * width);
        proj = nn.Linear(width, width);
        attn_drop = nn.Dropout(dropout);
        resid_drop = nn.Dropout(dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2], headWidth = width / _heads;
        var parts = qkv.forward(x).view(batch, length, 3, _heads, headWidth).permute(2, 0, 3, 1, 4); // 3, B, H, T, hw
        Tensor q = parts[0], k = parts[1], v = parts[2];
        var scores = q.matmul(k.transpose(-2, -1)).mul(1.0 / Math.Sqrt(headWidth));
        using var future = ones(length, length, dtype: ScalarType.Bool).triu(1);
        var weights = attn_drop.forward(scores.masked_fill(future, float.NegativeInfinity).softmax(-1));
        var mixed = weights.matmul(v).transpose(1, 2).contiguous().view(batch, length, width);
        return resid_drop.forward(proj.forward(mixed));
    }
}

/// <summary>A pre-norm transformer block: attention and a GELU MLP, each around a residual connection.</summary>
internal sealed class Block : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1;
    private readonly CausalSelfAttention attn;
    private readonly LayerNorm ln2;
    private readonly Sequential mlp;

    public Block(int width, int heads, double dropout) : base(nameof(Block))
    {
        ln1 = nn.LayerNorm(width);
        attn = new CausalSelfAttention(width, heads, dropout);
        ln2 = nn.LayerNorm(width);
        mlp = nn.Sequential(("fc", nn.Linear(width, 4 * width)), ("gelu", nn.GELU()), ("proj", nn.Linear(4 * width, width)), ("drop", nn.Dropout(dropout)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = x.add(attn.forward(ln1.forward(x)));
        return x.add(mlp.forward(ln2.forward(x)));
    }
}

/// <summary>
/// A decoder-only transformer: token and position embeddings, <c>layers</c> blocks, a final LayerNorm and an output
/// layer that shares its weight with the token embedding (weight tying: one Parameter, saved once).
/// </summary>
internal sealed class TinyGpt : nn.Module<Tensor, Tensor>
{
    private readonly Embedding tok_emb;
    private readonly Embedding pos_emb;
    private readonly Dropout drop;
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm ln_f;
    private readonly Linear head;

    public TinyGpt(int vocabulary, int context, int width = 64, int heads = 4, int layers = 2, double dropout = 0.1) : base(nameof(TinyGpt))
    {
        tok_emb = nn.Embedding(vocabulary, width);
        pos_emb = nn.Embedding(context, width);
        drop = nn.Dropout(dropout);
        blocks = nn.ModuleList(Enumerable.Range(0, layers).Select(_ => new Block(width, heads, dropout)).ToArray());
        ln_f = nn.LayerNorm(width);
        head = nn.Linear(width, vocabulary, hasBias: false);
        head.weight = tok_emb.weight!; // weight tying
        RegisterComponents();
    }

    /// <summary>Logits [batch, length, vocabulary] for token ids [batch, length].</summary>
    public override Tensor forward(Tensor tokens)
    {
        var positions = arange(tokens.shape[1], dtype: ScalarType.Int64);
        var x = drop.forward(tok_emb.forward(tokens).add(pos_emb.forward(positions)));
        foreach (var block in blocks) x = block.forward(x);
        return head.forward(ln_f.forward(x));
    }
}
