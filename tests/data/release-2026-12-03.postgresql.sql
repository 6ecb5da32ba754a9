--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: generation; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.generation (
    id integer NOT NULL,
    result_id integer NOT NULL,
    prompt_index integer NOT NULL,
    prompt character varying NOT NULL,
    text character varying NOT NULL,
    n_tokens integer NOT NULL
);


--
-- Name: generation_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.generation_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: generation_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.generation_id_seq OWNED BY public.generation.id;


--
-- Name: job; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job (
    id integer NOT NULL,
    model character varying NOT NULL,
    model_key character varying NOT NULL,
    recipe character varying NOT NULL,
    recipe_name character varying,
    options json,
    eval_text_path character varying NOT NULL,
    eval_text_sha character varying NOT NULL,
    n_ctx integer NOT NULL,
    max_chunks integer,
    prompts json,
    max_new_tokens integer NOT NULL,
    dedupe_key character varying NOT NULL,
    state character varying NOT NULL,
    stage character varying NOT NULL,
    progress double precision NOT NULL,
    eta_seconds double precision,
    stages json,
    stage_number integer DEFAULT 0 NOT NULL,
    stage_started_at timestamp with time zone,
    expected_seconds double precision,
    stage_plan json,
    error character varying,
    pid integer,
    worker character varying,
    heartbeat_at timestamp with time zone,
    cancel_requested boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone
);


--
-- Name: job_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.job_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: job_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.job_id_seq OWNED BY public.job.id;


--
-- Name: joblog; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.joblog (
    id integer NOT NULL,
    job_id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    line character varying NOT NULL
);


--
-- Name: joblog_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.joblog_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: joblog_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.joblog_id_seq OWNED BY public.joblog.id;


--
-- Name: ollama_import; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ollama_import (
    id integer NOT NULL,
    job_id integer NOT NULL,
    result_id integer NOT NULL,
    name character varying NOT NULL,
    host character varying NOT NULL,
    server_version character varying NOT NULL,
    digest character varying NOT NULL,
    uploaded boolean NOT NULL,
    modelfile character varying NOT NULL,
    smoke_prompt character varying NOT NULL,
    smoke_answer character varying NOT NULL,
    show json,
    seconds double precision NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: ollama_import_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ollama_import_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ollama_import_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ollama_import_id_seq OWNED BY public.ollama_import.id;


--
-- Name: ollama_pending; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ollama_pending (
    job_id integer NOT NULL,
    host character varying NOT NULL,
    name character varying NOT NULL,
    existed boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: result; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.result (
    id integer NOT NULL,
    job_id integer,
    model character varying NOT NULL,
    model_key character varying NOT NULL,
    recipe character varying NOT NULL,
    recipe_name character varying,
    family character varying NOT NULL,
    is_base boolean NOT NULL,
    base_key character varying NOT NULL,
    artifact character varying NOT NULL,
    size_bytes integer NOT NULL,
    n_params integer NOT NULL,
    bpw double precision NOT NULL,
    tensor_types json,
    made_with json,
    fallback_tensors integer NOT NULL,
    ppl double precision NOT NULL,
    nll_sum double precision NOT NULL,
    n_ctx integer NOT NULL,
    n_chunks integer NOT NULL,
    n_tokens_scored integer NOT NULL,
    prefill_tok_s double precision NOT NULL,
    decode_tok_s double precision NOT NULL,
    peak_rss_bytes integer NOT NULL,
    peak_vram_bytes integer,
    emulated boolean NOT NULL,
    divergence json,
    generations_skipped character varying,
    quant_seconds double precision,
    load_seconds double precision,
    pending json,
    filled_by integer,
    cpu_share double precision,
    load_average double precision,
    eval_text_sha character varying NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: result_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.result_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: result_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.result_id_seq OWNED BY public.result.id;


--
-- Name: sensitivitymap; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sensitivitymap (
    id integer NOT NULL,
    job_id integer NOT NULL,
    family character varying DEFAULT 'gguf'::character varying NOT NULL,
    model character varying NOT NULL,
    model_key character varying NOT NULL,
    calibration_sha character varying NOT NULL,
    n_ctx integer NOT NULL,
    n_chunks integer NOT NULL,
    tokens_scored integer NOT NULL,
    high_type character varying NOT NULL,
    low_types json,
    added_kld json,
    baseline_kld double precision NOT NULL,
    relative_error json,
    seconds double precision NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: sensitivitymap_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.sensitivitymap_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: sensitivitymap_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.sensitivitymap_id_seq OWNED BY public.sensitivitymap.id;


--
-- Name: generation id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generation ALTER COLUMN id SET DEFAULT nextval('public.generation_id_seq'::regclass);


--
-- Name: job id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job ALTER COLUMN id SET DEFAULT nextval('public.job_id_seq'::regclass);


--
-- Name: joblog id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.joblog ALTER COLUMN id SET DEFAULT nextval('public.joblog_id_seq'::regclass);


--
-- Name: ollama_import id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ollama_import ALTER COLUMN id SET DEFAULT nextval('public.ollama_import_id_seq'::regclass);


--
-- Name: result id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.result ALTER COLUMN id SET DEFAULT nextval('public.result_id_seq'::regclass);


--
-- Name: sensitivitymap id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sensitivitymap ALTER COLUMN id SET DEFAULT nextval('public.sensitivitymap_id_seq'::regclass);


--
-- Data for Name: generation; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.generation VALUES (1, 1, 0, 'Explain in two sentences what quantization does to a neural network.', ' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely', 8);
INSERT INTO public.generation VALUES (2, 1, 1, 'Write a haiku about autumn.', '''(''(''(''(''(''(''(''(', 8);
INSERT INTO public.generation VALUES (3, 1, 2, 'What is the capital of France, and what is it known for?', ' prints prints prints prints prints prints prints prints', 8);
INSERT INTO public.generation VALUES (4, 2, 0, 'Explain in two sentences what quantization does to a neural network.', ' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely', 8);
INSERT INTO public.generation VALUES (5, 2, 1, 'Write a haiku about autumn.', '''(''(''(''(''(''(''(''(', 8);
INSERT INTO public.generation VALUES (6, 2, 2, 'What is the capital of France, and what is it known for?', ' prints prints prints prints prints prints prints prints', 8);
INSERT INTO public.generation VALUES (7, 3, 0, 'Explain in two sentences what quantization does to a neural network.', ' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely', 8);
INSERT INTO public.generation VALUES (8, 3, 1, 'Write a haiku about autumn.', '''(''(''(''(''(''(''(''(', 8);
INSERT INTO public.generation VALUES (9, 3, 2, 'What is the capital of France, and what is it known for?', ' prints prints prints prints prints prints prints prints', 8);
INSERT INTO public.generation VALUES (10, 4, 0, 'Explain in two sentences what quantization does to a neural network.', ' Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely Absolutely', 8);
INSERT INTO public.generation VALUES (11, 4, 1, 'Write a haiku about autumn.', '''(''(''(''(''(''(''(''(', 8);
INSERT INTO public.generation VALUES (12, 4, 2, 'What is the capital of France, and what is it known for?', ' prints prints prints prints prints prints prints prints', 8);


--
-- Data for Name: job; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.job VALUES (1, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'gguf:Q8_0', 'gguf', '{"type": "Q8_0", "imatrix": "auto", "imatrix_text": "builtin", "output_type": "default", "embedding_type": "default", "tensor_types": "", "checkpoint_kld": true, "threads": 0}', '/home/ada/wikitext-head.txt', '32d31e14a0255e5d', 128, 2, '["Explain in two sentences what quantization does to a neural network.", "Write a haiku about autumn.", "What is the capital of France, and what is it known for?"]', 8, 'fb2356d52b49c01186bfc260', 'done', 'done', 1, 0, '["preflight", "convert", "quantize", "evaluate", "store", "divergence vs checkpoint", "evaluate base", "divergence vs checkpoint"]', 8, '2026-12-03 14:54:00.877057+00', 27.051919327808715, '{}', NULL, NULL, 'vm:18203', '2026-12-03 14:54:02.701083+00', false, '2026-12-03 14:53:32.311968+00', '2026-12-03 14:53:32.379388+00', '2026-12-03 14:54:07.140477+00');
INSERT INTO public.job VALUES (2, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'int8-rtn', 'int8-rtn', '{"scheme": "symmetric", "granularity": "per-channel", "group_size": 64, "keep": ""}', '/home/ada/wikitext-head.txt', '32d31e14a0255e5d', 128, 2, '["Explain in two sentences what quantization does to a neural network.", "Write a haiku about autumn.", "What is the capital of France, and what is it known for?"]', 8, '5ed57fbac69e243b6d0162b8', 'done', 'done', 1, 0, '["preflight", "quantize", "evaluate", "store", "evaluate base"]', 5, '2026-12-03 14:54:21.160078+00', 26.737268140105108, '{}', NULL, NULL, 'vm:18203', '2026-12-03 14:54:28.72803+00', false, '2026-12-03 14:53:32.316644+00', '2026-12-03 14:54:08.503406+00', '2026-12-03 14:54:27.770896+00');
INSERT INTO public.job VALUES (3, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'sensitivity', 'sensitivity', '{"family": "gguf"}', '/home/ada/quantization-studio/studio/data/calibration-sample.txt', '9c8742d7ff04aef7', 128, 1, '[]', 64, 'b277c84eb2789e2a00de0df3', 'done', 'done', 1, NULL, '["preflight", "convert", "quantize", "sensitivity", "store"]', 5, '2026-12-03 14:54:43.058083+00', NULL, '{}', NULL, NULL, 'vm:18425', '2026-12-03 14:54:40.212658+00', false, '2026-12-03 14:54:30.116597+00', '2026-12-03 14:54:30.147752+00', '2026-12-03 14:54:43.077466+00');


--
-- Data for Name: joblog; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.joblog VALUES (1, 1, '2026-12-03 14:53:33.026843+00', '== stage: preflight');
INSERT INTO public.joblog VALUES (2, 1, '2026-12-03 14:53:33.320761+00', '== stage: convert');
INSERT INTO public.joblog VALUES (3, 1, '2026-12-03 14:53:35.315174+00', 'INFO:hf-to-gguf:Loading model: tiny-llama');
INSERT INTO public.joblog VALUES (4, 1, '2026-12-03 14:53:36.36046+00', 'INFO:hf-to-gguf:Model architecture: LlamaForCausalLM');
INSERT INTO public.joblog VALUES (5, 1, '2026-12-03 14:53:36.370532+00', 'INFO:hf-to-gguf:gguf: indexing model part ''model.safetensors''');
INSERT INTO public.joblog VALUES (6, 1, '2026-12-03 14:53:36.371057+00', 'INFO:gguf.gguf_writer:gguf: This GGUF file is for Little Endian only');
INSERT INTO public.joblog VALUES (7, 1, '2026-12-03 14:53:36.373272+00', 'INFO:hf-to-gguf:Exporting model...');
INSERT INTO public.joblog VALUES (8, 1, '2026-12-03 14:53:36.37394+00', 'INFO:hf-to-gguf:token_embd.weight,          torch.float16 --> F16, shape = {256, 49152}');
INSERT INTO public.joblog VALUES (9, 1, '2026-12-03 14:53:36.374097+00', 'INFO:hf-to-gguf:blk.0.attn_norm.weight,     torch.float16 --> F32, shape = {256}');
INSERT INTO public.joblog VALUES (10, 1, '2026-12-03 14:53:36.374244+00', 'INFO:hf-to-gguf:blk.0.ffn_down.weight,      torch.float16 --> F16, shape = {512, 256}');
INSERT INTO public.joblog VALUES (11, 1, '2026-12-03 14:53:36.374973+00', 'INFO:hf-to-gguf:blk.0.attn_k.weight,        torch.float16 --> F16, shape = {256, 128}');
INSERT INTO public.joblog VALUES (12, 1, '2026-12-03 14:53:36.37545+00', 'INFO:hf-to-gguf:blk.1.attn_norm.weight,     torch.float16 --> F32, shape = {256}');
INSERT INTO public.joblog VALUES (13, 1, '2026-12-03 14:53:36.375547+00', 'INFO:hf-to-gguf:blk.1.ffn_down.weight,      torch.float16 --> F16, shape = {512, 256}');
INSERT INTO public.joblog VALUES (14, 1, '2026-12-03 14:53:36.375901+00', 'INFO:hf-to-gguf:blk.1.attn_k.weight,        torch.float16 --> F16, shape = {256, 128}');
INSERT INTO public.joblog VALUES (15, 1, '2026-12-03 14:53:36.376253+00', 'INFO:hf-to-gguf:output_norm.weight,         torch.float16 --> F32, shape = {256}');
INSERT INTO public.joblog VALUES (16, 1, '2026-12-03 14:53:36.377072+00', 'INFO:hf-to-gguf:Set meta model');
INSERT INTO public.joblog VALUES (17, 1, '2026-12-03 14:53:36.377123+00', 'INFO:hf-to-gguf:Set model parameters');
INSERT INTO public.joblog VALUES (18, 1, '2026-12-03 14:53:36.377171+00', 'INFO:hf-to-gguf:gguf: context length = 2048');
INSERT INTO public.joblog VALUES (19, 1, '2026-12-03 14:53:36.377201+00', 'INFO:hf-to-gguf:gguf: embedding length = 256');
INSERT INTO public.joblog VALUES (20, 1, '2026-12-03 14:53:36.377235+00', 'INFO:hf-to-gguf:gguf: feed forward length = 512');
INSERT INTO public.joblog VALUES (21, 1, '2026-12-03 14:53:36.377266+00', 'INFO:hf-to-gguf:gguf: head count = 4');
INSERT INTO public.joblog VALUES (22, 1, '2026-12-03 14:53:36.377297+00', 'INFO:hf-to-gguf:gguf: key-value head count = 2');
INSERT INTO public.joblog VALUES (23, 1, '2026-12-03 14:53:36.377333+00', 'WARNING:hf-to-gguf:Unknown RoPE type: default');
INSERT INTO public.joblog VALUES (24, 1, '2026-12-03 14:53:36.377359+00', 'INFO:hf-to-gguf:gguf: rope scaling type = NONE');
INSERT INTO public.joblog VALUES (25, 1, '2026-12-03 14:53:36.37742+00', 'INFO:hf-to-gguf:gguf: rms norm epsilon = 1e-06');
INSERT INTO public.joblog VALUES (26, 1, '2026-12-03 14:53:36.37747+00', 'INFO:hf-to-gguf:gguf: file type = 1');
INSERT INTO public.joblog VALUES (27, 1, '2026-12-03 14:53:36.377501+00', 'INFO:hf-to-gguf:Set model quantization version');
INSERT INTO public.joblog VALUES (28, 1, '2026-12-03 14:53:37.095142+00', 'INFO:gguf.vocab:Adding 48900 merge(s).');
INSERT INTO public.joblog VALUES (29, 1, '2026-12-03 14:53:37.107337+00', 'INFO:gguf.vocab:Setting special token type bos to 1');
INSERT INTO public.joblog VALUES (30, 1, '2026-12-03 14:53:37.107345+00', 'You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>');
INSERT INTO public.joblog VALUES (31, 1, '2026-12-03 14:53:37.107346+00', ''' }}{% endif %}{{''<|im_start|>'' + message[''role''] + ''');
INSERT INTO public.joblog VALUES (32, 1, '2026-12-03 14:53:37.107346+00', ''' + message[''content''] + ''<|im_end|>'' + ''');
INSERT INTO public.joblog VALUES (33, 1, '2026-12-03 14:53:37.107347+00', '''}}{% endfor %}{% if add_generation_prompt %}{{ ''<|im_start|>assistant');
INSERT INTO public.joblog VALUES (34, 1, '2026-12-03 14:53:37.107348+00', ''' }}{% endif %}');
INSERT INTO public.joblog VALUES (35, 1, '2026-12-03 14:53:37.107371+00', 'INFO:gguf.gguf_writer:Writing the following files:');
INSERT INTO public.joblog VALUES (36, 1, '2026-12-03 14:53:37.107371+00', 'INFO:gguf.gguf_writer:/home/ada/studio-workspace/tmp/job-1/base-f16.gguf: n_tensors = 20, total_size = 27.5M');
INSERT INTO public.joblog VALUES (37, 1, '2026-12-03 14:53:37.252277+00', '');
INSERT INTO public.joblog VALUES (38, 1, '2026-12-03 14:53:37.295118+00', 'Writing:   0%|          | 0.00/27.5M [00:00<?, ?byte/s]');
INSERT INTO public.joblog VALUES (39, 1, '2026-12-03 14:53:37.303098+00', 'Writing: 100%|██████████| 27.5M/27.5M [00:00<00:00, 816Mbyte/s]');
INSERT INTO public.joblog VALUES (40, 1, '2026-12-03 14:53:37.303113+00', 'INFO:hf-to-gguf:Model successfully exported to /home/ada/studio-workspace/tmp/job-1/base-f16.gguf');
INSERT INTO public.joblog VALUES (41, 1, '2026-12-03 14:53:38.171547+00', '== stage: quantize');
INSERT INTO public.joblog VALUES (42, 1, '2026-12-03 14:53:38.189614+00', 'llama_model_loader: loaded meta data with 29 key-value pairs and 20 tensors from /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf (version GGUF V3 (latest))');
INSERT INTO public.joblog VALUES (43, 1, '2026-12-03 14:53:38.189666+00', 'llama_model_loader: Dumping metadata keys/values. Note: KV overrides do not apply in this output.');
INSERT INTO public.joblog VALUES (44, 1, '2026-12-03 14:53:38.189681+00', 'llama_model_loader: - kv   0:                       general.architecture str              = llama');
INSERT INTO public.joblog VALUES (45, 1, '2026-12-03 14:53:38.18969+00', 'llama_model_loader: - kv   1:                               general.type str              = model');
INSERT INTO public.joblog VALUES (46, 1, '2026-12-03 14:53:38.189697+00', 'llama_model_loader: - kv   2:                               general.name str              = Tiny Llama');
INSERT INTO public.joblog VALUES (47, 1, '2026-12-03 14:53:38.189707+00', 'llama_model_loader: - kv   3:                         general.size_label str              = 14M');
INSERT INTO public.joblog VALUES (48, 1, '2026-12-03 14:53:38.189719+00', 'llama_model_loader: - kv   4:                          llama.block_count u32              = 2');
INSERT INTO public.joblog VALUES (49, 1, '2026-12-03 14:53:38.189737+00', 'llama_model_loader: - kv   5:                       llama.context_length u32              = 2048');
INSERT INTO public.joblog VALUES (50, 1, '2026-12-03 14:53:38.189745+00', 'llama_model_loader: - kv   6:                     llama.embedding_length u32              = 256');
INSERT INTO public.joblog VALUES (51, 1, '2026-12-03 14:53:38.189753+00', 'llama_model_loader: - kv   7:                  llama.feed_forward_length u32              = 512');
INSERT INTO public.joblog VALUES (52, 1, '2026-12-03 14:53:38.18976+00', 'llama_model_loader: - kv   8:                 llama.attention.head_count u32              = 4');
INSERT INTO public.joblog VALUES (53, 1, '2026-12-03 14:53:38.189768+00', 'llama_model_loader: - kv   9:              llama.attention.head_count_kv u32              = 2');
INSERT INTO public.joblog VALUES (54, 1, '2026-12-03 14:53:38.189785+00', 'llama_model_loader: - kv  10:                       llama.rope.freq_base f32              = 10000.000000');
INSERT INTO public.joblog VALUES (55, 1, '2026-12-03 14:53:38.189794+00', 'llama_model_loader: - kv  11:     llama.attention.layer_norm_rms_epsilon f32              = 0.000001');
INSERT INTO public.joblog VALUES (56, 1, '2026-12-03 14:53:38.189801+00', 'llama_model_loader: - kv  12:                 llama.attention.key_length u32              = 64');
INSERT INTO public.joblog VALUES (57, 1, '2026-12-03 14:53:38.189808+00', 'llama_model_loader: - kv  13:               llama.attention.value_length u32              = 64');
INSERT INTO public.joblog VALUES (58, 1, '2026-12-03 14:53:38.189815+00', 'llama_model_loader: - kv  14:                          general.file_type u32              = 1');
INSERT INTO public.joblog VALUES (59, 1, '2026-12-03 14:53:38.189822+00', 'llama_model_loader: - kv  15:                           llama.vocab_size u32              = 49152');
INSERT INTO public.joblog VALUES (60, 1, '2026-12-03 14:53:38.189829+00', 'llama_model_loader: - kv  16:                 llama.rope.dimension_count u32              = 64');
INSERT INTO public.joblog VALUES (61, 1, '2026-12-03 14:53:38.189836+00', 'llama_model_loader: - kv  17:               general.quantization_version u32              = 2');
INSERT INTO public.joblog VALUES (62, 1, '2026-12-03 14:53:38.189843+00', 'llama_model_loader: - kv  18:                       tokenizer.ggml.model str              = gpt2');
INSERT INTO public.joblog VALUES (63, 1, '2026-12-03 14:53:38.189851+00', 'llama_model_loader: - kv  19:                         tokenizer.ggml.pre str              = smollm');
INSERT INTO public.joblog VALUES (64, 1, '2026-12-03 14:53:38.195836+00', 'llama_model_loader: - kv  20:                      tokenizer.ggml.tokens arr[str,49152]   = ["<|endoftext|>", "<|im_start|>", "<|...');
INSERT INTO public.joblog VALUES (65, 1, '2026-12-03 14:53:38.197676+00', 'llama_model_loader: - kv  21:                  tokenizer.ggml.token_type arr[i32,49152]   = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, ...');
INSERT INTO public.joblog VALUES (66, 1, '2026-12-03 14:53:38.201817+00', 'llama_model_loader: - kv  22:                      tokenizer.ggml.merges arr[str,48900]   = ["Ġ t", "Ġ a", "i n", "h e", "Ġ Ġ...');
INSERT INTO public.joblog VALUES (67, 1, '2026-12-03 14:53:38.201848+00', 'llama_model_loader: - kv  23:                tokenizer.ggml.bos_token_id u32              = 1');
INSERT INTO public.joblog VALUES (68, 1, '2026-12-03 14:53:38.201856+00', 'llama_model_loader: - kv  24:                tokenizer.ggml.eos_token_id u32              = 2');
INSERT INTO public.joblog VALUES (69, 1, '2026-12-03 14:53:38.201863+00', 'llama_model_loader: - kv  25:            tokenizer.ggml.unknown_token_id u32              = 0');
INSERT INTO public.joblog VALUES (70, 1, '2026-12-03 14:53:38.20187+00', 'llama_model_loader: - kv  26:            tokenizer.ggml.padding_token_id u32              = 2');
INSERT INTO public.joblog VALUES (71, 1, '2026-12-03 14:53:38.20188+00', 'llama_model_loader: - kv  27:                    tokenizer.chat_template str              = {% for message in messages %}{% if lo...');
INSERT INTO public.joblog VALUES (72, 1, '2026-12-03 14:53:38.201891+00', 'llama_model_loader: - kv  28:               tokenizer.ggml.add_bos_token bool             = false');
INSERT INTO public.joblog VALUES (73, 1, '2026-12-03 14:53:38.2019+00', 'llama_model_loader: - type  f32:    5 tensors');
INSERT INTO public.joblog VALUES (74, 1, '2026-12-03 14:53:38.201908+00', 'llama_model_loader: - type  f16:   15 tensors');
INSERT INTO public.joblog VALUES (75, 1, '2026-12-03 14:53:38.229197+00', '[   1/  20] output_norm.weight                   - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (76, 1, '2026-12-03 14:53:38.350126+00', '[   2/  20] token_embd.weight                    - [   256,  49152,      1,      1], type =    f16, converting to q8_0 .. size =    24.00 MiB ->    12.75 MiB');
INSERT INTO public.joblog VALUES (77, 1, '2026-12-03 14:53:38.351375+00', '[   3/  20] blk.0.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (78, 1, '2026-12-03 14:53:38.351427+00', '[   4/  20] blk.0.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (79, 1, '2026-12-03 14:53:38.351996+00', '[   5/  20] blk.0.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (80, 1, '2026-12-03 14:53:38.352567+00', '[   6/  20] blk.0.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (81, 1, '2026-12-03 14:53:38.352842+00', '[   7/  20] blk.0.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (82, 1, '2026-12-03 14:53:38.353714+00', '[   8/  20] blk.0.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (83, 1, '2026-12-03 14:53:38.354594+00', '[   9/  20] blk.0.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (84, 1, '2026-12-03 14:53:38.354623+00', '[  10/  20] blk.0.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (85, 1, '2026-12-03 14:53:38.355607+00', '[  11/  20] blk.0.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (86, 1, '2026-12-03 14:53:38.355942+00', '[  12/  20] blk.1.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (87, 1, '2026-12-03 14:53:38.355977+00', '[  13/  20] blk.1.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (88, 1, '2026-12-03 14:53:38.356446+00', '[  14/  20] blk.1.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (89, 1, '2026-12-03 14:53:38.356903+00', '[  15/  20] blk.1.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (90, 1, '2026-12-03 14:53:38.357172+00', '[  16/  20] blk.1.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (91, 1, '2026-12-03 14:53:38.358061+00', '[  17/  20] blk.1.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (92, 1, '2026-12-03 14:53:38.358966+00', '[  18/  20] blk.1.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (93, 1, '2026-12-03 14:53:38.359067+00', '[  19/  20] blk.1.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (94, 1, '2026-12-03 14:53:38.359945+00', '[  20/  20] blk.1.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (95, 1, '2026-12-03 14:53:38.367231+00', 'llama_model_quantize_impl: model size  =    26.25 MiB (16.00 BPW)');
INSERT INTO public.joblog VALUES (96, 1, '2026-12-03 14:53:38.367255+00', 'llama_model_quantize_impl: quant size  =    13.95 MiB (8.50 BPW)');
INSERT INTO public.joblog VALUES (97, 1, '2026-12-03 14:53:38.372537+00', '== stage: evaluate');
INSERT INTO public.joblog VALUES (98, 1, '2026-12-03 14:53:38.459361+00', 'llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO public.joblog VALUES (99, 1, '2026-12-03 14:53:44.906515+00', 'base logits kept for the next jobs on this comparison: /home/ada/studio-workspace/cache/3d7928da07aa4008/base-logits/b02e983ce8160c6f');
INSERT INTO public.joblog VALUES (100, 1, '2026-12-03 14:53:45.087589+00', '== stage: store');
INSERT INTO public.joblog VALUES (101, 1, '2026-12-03 14:53:45.134266+00', '== stage: divergence vs checkpoint');
INSERT INTO public.joblog VALUES (102, 1, '2026-12-03 14:53:45.206144+00', 'llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO public.joblog VALUES (103, 1, '2026-12-03 14:53:52.187166+00', 'Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO public.joblog VALUES (104, 1, '2026-12-03 14:53:52.391718+00', 'W1203 14:53:52.390000 18270 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (105, 1, '2026-12-03 14:53:52.431124+00', 'W1203 14:53:52.427000 18270 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (106, 1, '2026-12-03 14:53:52.571878+00', '');
INSERT INTO public.joblog VALUES (107, 1, '2026-12-03 14:53:52.753449+00', 'Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO public.joblog VALUES (108, 1, '2026-12-03 14:53:52.758883+00', 'Loading weights:   5%|▌         | 1/20 [00:00<00:03,  5.54it/s]');
INSERT INTO public.joblog VALUES (109, 1, '2026-12-03 14:53:52.758892+00', 'Loading weights: 100%|██████████| 20/20 [00:00<00:00, 110.20it/s]');
INSERT INTO public.joblog VALUES (110, 1, '2026-12-03 14:53:54.261229+00', '== stage: evaluate base');
INSERT INTO public.joblog VALUES (111, 1, '2026-12-03 14:54:00.877662+00', '== stage: divergence vs checkpoint');
INSERT INTO public.joblog VALUES (112, 1, '2026-12-03 14:54:00.963944+00', 'llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO public.joblog VALUES (113, 1, '2026-12-03 14:54:04.650642+00', 'Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO public.joblog VALUES (114, 1, '2026-12-03 14:54:04.880551+00', 'W1203 14:54:04.879000 18281 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (119, 2, '2026-12-03 14:54:09.158921+00', '== stage: preflight');
INSERT INTO public.joblog VALUES (115, 1, '2026-12-03 14:54:04.908581+00', 'W1203 14:54:04.908000 18281 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (116, 1, '2026-12-03 14:54:05.033087+00', '');
INSERT INTO public.joblog VALUES (117, 1, '2026-12-03 14:54:05.048641+00', 'Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO public.joblog VALUES (118, 1, '2026-12-03 14:54:05.048701+00', 'Loading weights: 100%|██████████| 20/20 [00:00<00:00, 1227.27it/s]');
INSERT INTO public.joblog VALUES (120, 2, '2026-12-03 14:54:10.806964+00', '== stage: quantize');
INSERT INTO public.joblog VALUES (121, 2, '2026-12-03 14:54:12.236644+00', 'Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO public.joblog VALUES (126, 2, '2026-12-03 14:54:12.816634+00', '== stage: evaluate');
INSERT INTO public.joblog VALUES (127, 2, '2026-12-03 14:54:16.940751+00', 'Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO public.joblog VALUES (128, 2, '2026-12-03 14:54:17.099998+00', 'W1203 14:54:17.098000 18304 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (129, 2, '2026-12-03 14:54:17.145099+00', 'W1203 14:54:17.144000 18304 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (130, 2, '2026-12-03 14:54:18.263954+00', '');
INSERT INTO public.joblog VALUES (135, 2, '2026-12-03 14:54:21.128096+00', '== stage: store');
INSERT INTO public.joblog VALUES (122, 2, '2026-12-03 14:54:12.239886+00', 'Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_cutlass_90a.abi3.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_cutlass_90a.abi3.so');
INSERT INTO public.joblog VALUES (123, 2, '2026-12-03 14:54:12.410754+00', 'W1203 14:54:12.410000 18290 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (124, 2, '2026-12-03 14:54:12.450898+00', 'W1203 14:54:12.450000 18290 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (125, 2, '2026-12-03 14:54:12.808817+00', 'int8-rtn: 14 linear layers quantized (symmetric, per-channel)');
INSERT INTO public.joblog VALUES (131, 2, '2026-12-03 14:54:18.527781+00', 'Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO public.joblog VALUES (132, 2, '2026-12-03 14:54:18.528742+00', 'Loading weights:   5%|▌         | 1/20 [00:00<00:04,  3.80it/s]');
INSERT INTO public.joblog VALUES (133, 2, '2026-12-03 14:54:18.528753+00', 'Loading weights: 100%|██████████| 20/20 [00:00<00:00, 75.67it/s]');
INSERT INTO public.joblog VALUES (134, 2, '2026-12-03 14:54:19.768582+00', 'base logits kept for the next jobs on this comparison: /home/ada/studio-workspace/cache/3d7928da07aa4008/base-logits/4838971695a8901e');
INSERT INTO public.joblog VALUES (136, 2, '2026-12-03 14:54:21.160058+00', '== stage: evaluate base');
INSERT INTO public.joblog VALUES (137, 2, '2026-12-03 14:54:25.111098+00', 'Failed to load /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this library: /work/main/.venv/lib/python3.11/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so');
INSERT INTO public.joblog VALUES (138, 2, '2026-12-03 14:54:25.278001+00', 'W1203 14:54:25.277000 18373 torch/utils/_pytree.py:630] <enum ''KernelPreference''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (139, 2, '2026-12-03 14:54:25.304121+00', 'W1203 14:54:25.303000 18373 torch/utils/_pytree.py:630] <enum ''ScaleCalculationMode''> is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a future release.');
INSERT INTO public.joblog VALUES (140, 2, '2026-12-03 14:54:25.435536+00', '');
INSERT INTO public.joblog VALUES (141, 2, '2026-12-03 14:54:25.448706+00', 'Loading weights:   0%|          | 0/20 [00:00<?, ?it/s]');
INSERT INTO public.joblog VALUES (142, 2, '2026-12-03 14:54:25.448719+00', 'Loading weights: 100%|██████████| 20/20 [00:00<00:00, 1066.60it/s]');
INSERT INTO public.joblog VALUES (143, 3, '2026-12-03 14:54:30.886166+00', '== stage: preflight');
INSERT INTO public.joblog VALUES (144, 3, '2026-12-03 14:54:30.904425+00', '== stage: convert');
INSERT INTO public.joblog VALUES (145, 3, '2026-12-03 14:54:30.907761+00', 'F16 GGUF already converted: /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf');
INSERT INTO public.joblog VALUES (146, 3, '2026-12-03 14:54:30.917504+00', '== stage: quantize');
INSERT INTO public.joblog VALUES (147, 3, '2026-12-03 14:54:31.01032+00', 'llama_model_loader: loaded meta data with 29 key-value pairs and 20 tensors from /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf (version GGUF V3 (latest))');
INSERT INTO public.joblog VALUES (148, 3, '2026-12-03 14:54:31.010379+00', 'llama_model_loader: Dumping metadata keys/values. Note: KV overrides do not apply in this output.');
INSERT INTO public.joblog VALUES (149, 3, '2026-12-03 14:54:31.010396+00', 'llama_model_loader: - kv   0:                       general.architecture str              = llama');
INSERT INTO public.joblog VALUES (150, 3, '2026-12-03 14:54:31.010406+00', 'llama_model_loader: - kv   1:                               general.type str              = model');
INSERT INTO public.joblog VALUES (151, 3, '2026-12-03 14:54:31.010416+00', 'llama_model_loader: - kv   2:                               general.name str              = Tiny Llama');
INSERT INTO public.joblog VALUES (152, 3, '2026-12-03 14:54:31.010424+00', 'llama_model_loader: - kv   3:                         general.size_label str              = 14M');
INSERT INTO public.joblog VALUES (153, 3, '2026-12-03 14:54:31.010437+00', 'llama_model_loader: - kv   4:                          llama.block_count u32              = 2');
INSERT INTO public.joblog VALUES (154, 3, '2026-12-03 14:54:31.010453+00', 'llama_model_loader: - kv   5:                       llama.context_length u32              = 2048');
INSERT INTO public.joblog VALUES (155, 3, '2026-12-03 14:54:31.01046+00', 'llama_model_loader: - kv   6:                     llama.embedding_length u32              = 256');
INSERT INTO public.joblog VALUES (156, 3, '2026-12-03 14:54:31.010466+00', 'llama_model_loader: - kv   7:                  llama.feed_forward_length u32              = 512');
INSERT INTO public.joblog VALUES (157, 3, '2026-12-03 14:54:31.010473+00', 'llama_model_loader: - kv   8:                 llama.attention.head_count u32              = 4');
INSERT INTO public.joblog VALUES (158, 3, '2026-12-03 14:54:31.01048+00', 'llama_model_loader: - kv   9:              llama.attention.head_count_kv u32              = 2');
INSERT INTO public.joblog VALUES (159, 3, '2026-12-03 14:54:31.010494+00', 'llama_model_loader: - kv  10:                       llama.rope.freq_base f32              = 10000.000000');
INSERT INTO public.joblog VALUES (160, 3, '2026-12-03 14:54:31.010502+00', 'llama_model_loader: - kv  11:     llama.attention.layer_norm_rms_epsilon f32              = 0.000001');
INSERT INTO public.joblog VALUES (161, 3, '2026-12-03 14:54:31.01051+00', 'llama_model_loader: - kv  12:                 llama.attention.key_length u32              = 64');
INSERT INTO public.joblog VALUES (162, 3, '2026-12-03 14:54:31.010516+00', 'llama_model_loader: - kv  13:               llama.attention.value_length u32              = 64');
INSERT INTO public.joblog VALUES (163, 3, '2026-12-03 14:54:31.010523+00', 'llama_model_loader: - kv  14:                          general.file_type u32              = 1');
INSERT INTO public.joblog VALUES (164, 3, '2026-12-03 14:54:31.010529+00', 'llama_model_loader: - kv  15:                           llama.vocab_size u32              = 49152');
INSERT INTO public.joblog VALUES (165, 3, '2026-12-03 14:54:31.010535+00', 'llama_model_loader: - kv  16:                 llama.rope.dimension_count u32              = 64');
INSERT INTO public.joblog VALUES (166, 3, '2026-12-03 14:54:31.010542+00', 'llama_model_loader: - kv  17:               general.quantization_version u32              = 2');
INSERT INTO public.joblog VALUES (167, 3, '2026-12-03 14:54:31.010548+00', 'llama_model_loader: - kv  18:                       tokenizer.ggml.model str              = gpt2');
INSERT INTO public.joblog VALUES (168, 3, '2026-12-03 14:54:31.010554+00', 'llama_model_loader: - kv  19:                         tokenizer.ggml.pre str              = smollm');
INSERT INTO public.joblog VALUES (169, 3, '2026-12-03 14:54:31.014315+00', 'llama_model_loader: - kv  20:                      tokenizer.ggml.tokens arr[str,49152]   = ["<|endoftext|>", "<|im_start|>", "<|...');
INSERT INTO public.joblog VALUES (170, 3, '2026-12-03 14:54:31.015386+00', 'llama_model_loader: - kv  21:                  tokenizer.ggml.token_type arr[i32,49152]   = [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, ...');
INSERT INTO public.joblog VALUES (171, 3, '2026-12-03 14:54:31.019094+00', 'llama_model_loader: - kv  22:                      tokenizer.ggml.merges arr[str,48900]   = ["Ġ t", "Ġ a", "i n", "h e", "Ġ Ġ...');
INSERT INTO public.joblog VALUES (172, 3, '2026-12-03 14:54:31.019116+00', 'llama_model_loader: - kv  23:                tokenizer.ggml.bos_token_id u32              = 1');
INSERT INTO public.joblog VALUES (173, 3, '2026-12-03 14:54:31.019123+00', 'llama_model_loader: - kv  24:                tokenizer.ggml.eos_token_id u32              = 2');
INSERT INTO public.joblog VALUES (174, 3, '2026-12-03 14:54:31.019129+00', 'llama_model_loader: - kv  25:            tokenizer.ggml.unknown_token_id u32              = 0');
INSERT INTO public.joblog VALUES (175, 3, '2026-12-03 14:54:31.019136+00', 'llama_model_loader: - kv  26:            tokenizer.ggml.padding_token_id u32              = 2');
INSERT INTO public.joblog VALUES (176, 3, '2026-12-03 14:54:31.019144+00', 'llama_model_loader: - kv  27:                    tokenizer.chat_template str              = {% for message in messages %}{% if lo...');
INSERT INTO public.joblog VALUES (177, 3, '2026-12-03 14:54:31.019154+00', 'llama_model_loader: - kv  28:               tokenizer.ggml.add_bos_token bool             = false');
INSERT INTO public.joblog VALUES (178, 3, '2026-12-03 14:54:31.019165+00', 'llama_model_loader: - type  f32:    5 tensors');
INSERT INTO public.joblog VALUES (179, 3, '2026-12-03 14:54:31.019173+00', 'llama_model_loader: - type  f16:   15 tensors');
INSERT INTO public.joblog VALUES (180, 3, '2026-12-03 14:54:31.046746+00', '[   1/  20] output_norm.weight                   - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (181, 3, '2026-12-03 14:54:31.167099+00', '[   2/  20] token_embd.weight                    - [   256,  49152,      1,      1], type =    f16, converting to q8_0 .. size =    24.00 MiB ->    12.75 MiB');
INSERT INTO public.joblog VALUES (182, 3, '2026-12-03 14:54:31.168143+00', '[   3/  20] blk.0.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (183, 3, '2026-12-03 14:54:31.168195+00', '[   4/  20] blk.0.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (184, 3, '2026-12-03 14:54:31.168665+00', '[   5/  20] blk.0.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (185, 3, '2026-12-03 14:54:31.169126+00', '[   6/  20] blk.0.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (186, 3, '2026-12-03 14:54:31.169385+00', '[   7/  20] blk.0.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (187, 3, '2026-12-03 14:54:31.170304+00', '[   8/  20] blk.0.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (188, 3, '2026-12-03 14:54:31.17129+00', '[   9/  20] blk.0.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (189, 3, '2026-12-03 14:54:31.171334+00', '[  10/  20] blk.0.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (190, 3, '2026-12-03 14:54:31.172336+00', '[  11/  20] blk.0.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (191, 3, '2026-12-03 14:54:31.172629+00', '[  12/  20] blk.1.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (192, 3, '2026-12-03 14:54:31.172676+00', '[  13/  20] blk.1.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (193, 3, '2026-12-03 14:54:31.173138+00', '[  14/  20] blk.1.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (194, 3, '2026-12-03 14:54:31.173614+00', '[  15/  20] blk.1.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.12 MiB ->     0.07 MiB');
INSERT INTO public.joblog VALUES (195, 3, '2026-12-03 14:54:31.173874+00', '[  16/  20] blk.1.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q8_0 .. size =     0.06 MiB ->     0.03 MiB');
INSERT INTO public.joblog VALUES (196, 3, '2026-12-03 14:54:31.174759+00', '[  17/  20] blk.1.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (197, 3, '2026-12-03 14:54:31.175747+00', '[  18/  20] blk.1.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (198, 3, '2026-12-03 14:54:31.175787+00', '[  19/  20] blk.1.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (199, 3, '2026-12-03 14:54:31.176642+00', '[  20/  20] blk.1.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q8_0 .. size =     0.25 MiB ->     0.13 MiB');
INSERT INTO public.joblog VALUES (200, 3, '2026-12-03 14:54:31.183177+00', 'llama_model_quantize_impl: model size  =    26.25 MiB (16.00 BPW)');
INSERT INTO public.joblog VALUES (201, 3, '2026-12-03 14:54:31.183202+00', 'llama_model_quantize_impl: quant size  =    13.95 MiB (8.50 BPW)');
INSERT INTO public.joblog VALUES (202, 3, '2026-12-03 14:54:31.198177+00', 'version: 0.5.0-dev (build 0, commit unknown)');
INSERT INTO public.joblog VALUES (203, 3, '2026-12-03 14:54:31.198217+00', 'built with GNU 12.2.0 for Linux x86_64');
INSERT INTO public.joblog VALUES (204, 3, '2026-12-03 14:54:31.198252+00', 'llama_quantize: quantizing ''/home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf'' to ''/home/ada/studio-workspace/tmp/job-3/sensitivity-low.gguf'' as Q8_0 using 2 threads');
INSERT INTO public.joblog VALUES (205, 3, '2026-12-03 14:54:31.207586+00', 'llama_model_loader: loaded meta data with 29 key-value pairs and 20 tensors from /home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf (version GGUF V3 (latest))');
INSERT INTO public.joblog VALUES (206, 3, '2026-12-03 14:54:31.207636+00', 'llama_model_loader: Dumping metadata keys/values. Note: KV overrides do not apply in this output.');
INSERT INTO public.joblog VALUES (207, 3, '2026-12-03 14:54:31.20766+00', 'llama_model_loader: - kv   0:                       general.architecture str              = llama');
INSERT INTO public.joblog VALUES (208, 3, '2026-12-03 14:54:31.218592+00', 'llama_model_loader: - type  f32:    5 tensors');
INSERT INTO public.joblog VALUES (209, 3, '2026-12-03 14:54:31.223964+00', 'llama_tensor_get_type: token_embd.weight                    - applying manual override: q8_0 -> q2_K');
INSERT INTO public.joblog VALUES (210, 3, '2026-12-03 14:54:31.224003+00', 'llama_tensor_get_type: blk.0.attn_k.weight                  - applying manual override: q8_0 -> q2_K');
INSERT INTO public.joblog VALUES (211, 3, '2026-12-03 14:54:31.24872+00', '[   1/  20] output_norm.weight                   - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (212, 3, '2026-12-03 14:54:32.065415+00', '[   2/  20] token_embd.weight                    - [   256,  49152,      1,      1], type =    f16, converting to q2_K .. size =    24.00 MiB ->     3.94 MiB');
INSERT INTO public.joblog VALUES (213, 3, '2026-12-03 14:54:32.087038+00', '[   3/  20] blk.0.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO public.joblog VALUES (214, 3, '2026-12-03 14:54:32.087047+00', '[   4/  20] blk.0.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (215, 3, '2026-12-03 14:54:32.087047+00', '[   5/  20] blk.0.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO public.joblog VALUES (216, 3, '2026-12-03 14:54:32.088601+00', '[   6/  20] blk.0.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO public.joblog VALUES (217, 3, '2026-12-03 14:54:32.090877+00', '[   7/  20] blk.0.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO public.joblog VALUES (218, 3, '2026-12-03 14:54:32.107251+00', '[   8/  20] blk.0.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO public.joblog VALUES (219, 3, '2026-12-03 14:54:32.117354+00', '[   9/  20] blk.0.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO public.joblog VALUES (220, 3, '2026-12-03 14:54:32.117375+00', '[  10/  20] blk.0.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (221, 3, '2026-12-03 14:54:32.125816+00', '[  11/  20] blk.0.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO public.joblog VALUES (222, 3, '2026-12-03 14:54:32.128028+00', '[  12/  20] blk.1.attn_k.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO public.joblog VALUES (223, 3, '2026-12-03 14:54:32.12804+00', '[  13/  20] blk.1.attn_norm.weight               - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (224, 3, '2026-12-03 14:54:32.132285+00', '[  14/  20] blk.1.attn_output.weight             - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO public.joblog VALUES (225, 3, '2026-12-03 14:54:32.138021+00', '[  15/  20] blk.1.attn_q.weight                  - [   256,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.12 MiB ->     0.02 MiB');
INSERT INTO public.joblog VALUES (226, 3, '2026-12-03 14:54:32.140524+00', '[  16/  20] blk.1.attn_v.weight                  - [   256,    128,      1,      1], type =    f16, converting to q2_K .. size =     0.06 MiB ->     0.01 MiB');
INSERT INTO public.joblog VALUES (227, 3, '2026-12-03 14:54:32.148765+00', '[  17/  20] blk.1.ffn_down.weight                - [   512,    256,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO public.joblog VALUES (228, 3, '2026-12-03 14:54:32.158356+00', '[  18/  20] blk.1.ffn_gate.weight                - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO public.joblog VALUES (229, 3, '2026-12-03 14:54:32.15837+00', '[  19/  20] blk.1.ffn_norm.weight                - [   256,      1,      1,      1], type =    f32, size =    0.001 MiB');
INSERT INTO public.joblog VALUES (230, 3, '2026-12-03 14:54:32.169481+00', '[  20/  20] blk.1.ffn_up.weight                  - [   256,    512,      1,      1], type =    f16, converting to q2_K .. size =     0.25 MiB ->     0.04 MiB');
INSERT INTO public.joblog VALUES (231, 3, '2026-12-03 14:54:32.176758+00', 'llama_model_quantize_impl: model size  =    26.25 MiB (16.00 BPW)');
INSERT INTO public.joblog VALUES (232, 3, '2026-12-03 14:54:32.180244+00', '');
INSERT INTO public.joblog VALUES (233, 3, '2026-12-03 14:54:32.180251+00', 'llama_quantize: quantize time =   981.73 ms');
INSERT INTO public.joblog VALUES (234, 3, '2026-12-03 14:54:32.180252+00', 'llama_quantize:    total time =   981.73 ms');
INSERT INTO public.joblog VALUES (235, 3, '2026-12-03 14:54:32.185446+00', '== stage: sensitivity');
INSERT INTO public.joblog VALUES (236, 3, '2026-12-03 14:54:32.265165+00', 'llama_context: n_ctx_seq (512) > n_ctx_train (0) -- possible training context overflow');
INSERT INTO public.joblog VALUES (237, 3, '2026-12-03 14:54:32.329284+00', '15 tensors, each alone at its low type, scored on 1 chunks of 128 against the F16');
INSERT INTO public.joblog VALUES (238, 3, '2026-12-03 14:54:43.058763+00', '== stage: store');
INSERT INTO public.joblog VALUES (239, 3, '2026-12-03 14:54:43.083411+00', 'measured 15 tensors in 11 s');


--
-- Data for Name: ollama_import; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ollama_pending; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: result; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.result VALUES (1, 1, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'gguf:Q8_0', 'gguf', 'gguf', false, 'gguf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:llama.cpp-0.3.36', '/home/ada/studio-workspace/outputs/tiny-llama/job1-tiny-llama-Q8_0.gguf', 16398304, 13763840, 8.502185436622337, '{"F32": 5, "Q8_0": 15}', 'null', 0, 50576.4883334641, 1364.7365033207743, 128, 2, 126, 327.26645919029454, 8.431559790345485, 172044288, NULL, false, '{"kld_mean": 1.3015974468408884e-05, "kld_median": 1.290523490726041e-05, "kld_p99": 1.6622584485936136e-05, "kld_max": 1.706890252353233e-05, "same_top_pct": 98.4126984126984, "rms_dp_pct": 1.5997193162394194e-05, "base_ppl": 50546.58746954125, "vs_checkpoint": {"kld_mean": 1.2993898749853747e-05, "kld_median": 1.2862564193534895e-05, "kld_p99": 1.6564176696419645e-05, "kld_max": 1.7017707350823524e-05, "same_top_pct": 98.4126984126984, "rms_dp_pct": 1.587632821936658e-05}}', NULL, 0.19116958100016745, 0.11798396900007901, '[]', 1, 0.4720351063814664, 3.11865234375, '32d31e14a0255e5d', '2026-12-03 14:53:45.102459+00');
INSERT INTO public.result VALUES (2, NULL, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'gguf:base (F16)', NULL, 'gguf', true, 'gguf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:llama.cpp-0.3.36', '/home/ada/studio-workspace/cache/3d7928da07aa4008/base-f16.gguf', 29300704, 13763840, 16.00148795684925, '{"F16": 15, "F32": 5}', 'null', 0, 50546.58746954125, 1364.661989982762, 128, 2, 126, 253.41741902797295, 4.24148389430531, 359645184, NULL, false, '{"vs_checkpoint": {"kld_mean": 1.039077186647944e-08, "kld_median": 1.0242997731554441e-08, "kld_p99": 1.4129872092602413e-08, "kld_max": 1.4352708017649198e-08, "same_top_pct": 100.0, "rms_dp_pct": 3.477901365350066e-07}}', NULL, NULL, 0.1114452550000351, '[]', 1, 0.47437106423818387, 3.11865234375, '32d31e14a0255e5d', '2026-12-03 14:53:45.124188+00');
INSERT INTO public.result VALUES (3, 2, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'int8-rtn', 'int8-rtn', 'hf', false, 'hf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:transformers-5.23.0+torch-2.13.0+cpu', '/home/ada/studio-workspace/outputs/tiny-llama/job2-tiny-llama-int8-rtn', 26394832, 13763840, 15.341551195015345, '{}', 'null', 0, 50542.919209190215, 1364.6528455953844, 128, 2, 126, 4469.74053749476, 235.0533861088191, 498417664, NULL, true, '{"kld_mean": 9.995118931025535e-06, "kld_median": 9.892189258617084e-06, "kld_p99": 1.2873048427161715e-05, "kld_max": 1.3228852601640625e-05, "same_top_pct": 98.4126984126984, "rms_dp_pct": 1.919841769690671e-05, "base_ppl": 50546.524191479}', NULL, 2.0047914389999733, 3.2910010240000247, '[]', 2, 0.3209234858369496, 3.16796875, '32d31e14a0255e5d', '2026-12-03 14:54:21.136026+00');
INSERT INTO public.result VALUES (4, NULL, '/home/ada/models/tiny-llama', '3d7928da07aa4008', 'hf:base (checkpoint)', NULL, 'hf', true, 'hf:3d7928da07aa4008:32d31e14a0255e5d:ctx128:chunks2:transformers-5.23.0+torch-2.13.0+cpu', '/home/ada/models/tiny-llama', 27529856, 13763840, 16.001264763321863, '{}', 'null', 0, 50546.524191479, 1364.661832246281, 128, 2, 126, 572.3843152494951, 19.878052408066228, 495431680, NULL, false, '{}', NULL, NULL, 2.6183246789998975, '[]', 2, 0.40385078254345586, 3.16796875, '32d31e14a0255e5d', '2026-12-03 14:54:21.156937+00');


--
-- Data for Name: sensitivitymap; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sensitivitymap VALUES (1, 3, 'gguf', '/home/ada/models/tiny-llama', '3d7928da07aa4008', '9c8742d7ff04aef7', 128, 1, 111, 'Q8_0', '{"token_embd.weight": "Q2_K", "blk.0.attn_q.weight": "Q2_K", "blk.0.attn_k.weight": "Q2_K", "blk.0.attn_v.weight": "Q2_K", "blk.0.attn_output.weight": "Q2_K", "blk.0.ffn_gate.weight": "Q2_K", "blk.0.ffn_up.weight": "Q2_K", "blk.0.ffn_down.weight": "Q2_K", "blk.1.attn_q.weight": "Q2_K", "blk.1.attn_k.weight": "Q2_K", "blk.1.attn_v.weight": "Q2_K", "blk.1.attn_output.weight": "Q2_K", "blk.1.ffn_gate.weight": "Q2_K", "blk.1.ffn_up.weight": "Q2_K", "blk.1.ffn_down.weight": "Q2_K"}', '{"token_embd.weight": 0.010630796822558129, "blk.0.attn_q.weight": 9.036069106373418e-06, "blk.0.attn_k.weight": 9.087645808948412e-06, "blk.0.attn_v.weight": 0.005695757940786438, "blk.0.attn_output.weight": 0.004357824161588385, "blk.0.ffn_gate.weight": 0.0013861957404490018, "blk.0.ffn_up.weight": 0.0012082164019248673, "blk.0.ffn_down.weight": 0.0014261688738299353, "blk.1.attn_q.weight": 1.418601354406591e-06, "blk.1.attn_k.weight": 1.940093731073733e-06, "blk.1.attn_v.weight": 0.003919554708190816, "blk.1.attn_output.weight": 0.00411903268248529, "blk.1.ffn_gate.weight": 0.0003495297815103074, "blk.1.ffn_up.weight": 0.0003601247009727034, "blk.1.ffn_down.weight": 0.0003359835683861654}', 1.5168311856434009e-05, 'null', 10.716378930000019, '2026-12-03 14:54:43.053717+00');


--
-- Name: generation_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.generation_id_seq', 12, true);


--
-- Name: job_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.job_id_seq', 3, true);


--
-- Name: joblog_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.joblog_id_seq', 239, true);


--
-- Name: ollama_import_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ollama_import_id_seq', 1, false);


--
-- Name: result_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.result_id_seq', 4, true);


--
-- Name: sensitivitymap_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.sensitivitymap_id_seq', 1, true);


--
-- Name: generation generation_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generation
    ADD CONSTRAINT generation_pkey PRIMARY KEY (id);


--
-- Name: job job_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job
    ADD CONSTRAINT job_pkey PRIMARY KEY (id);


--
-- Name: joblog joblog_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.joblog
    ADD CONSTRAINT joblog_pkey PRIMARY KEY (id);


--
-- Name: ollama_import ollama_import_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ollama_import
    ADD CONSTRAINT ollama_import_pkey PRIMARY KEY (id);


--
-- Name: ollama_pending ollama_pending_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ollama_pending
    ADD CONSTRAINT ollama_pending_pkey PRIMARY KEY (job_id);


--
-- Name: result result_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.result
    ADD CONSTRAINT result_pkey PRIMARY KEY (id);


--
-- Name: sensitivitymap sensitivitymap_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sensitivitymap
    ADD CONSTRAINT sensitivitymap_pkey PRIMARY KEY (id);


--
-- Name: ix_generation_result_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_generation_result_id ON public.generation USING btree (result_id);


--
-- Name: ix_job_dedupe_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_job_dedupe_key ON public.job USING btree (dedupe_key);


--
-- Name: ix_job_model; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_job_model ON public.job USING btree (model);


--
-- Name: ix_job_model_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_job_model_key ON public.job USING btree (model_key);


--
-- Name: ix_job_state; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_job_state ON public.job USING btree (state);


--
-- Name: ix_joblog_job_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_joblog_job_id ON public.joblog USING btree (job_id);


--
-- Name: ix_ollama_import_job_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ollama_import_job_id ON public.ollama_import USING btree (job_id);


--
-- Name: ix_ollama_import_result_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ollama_import_result_id ON public.ollama_import USING btree (result_id);


--
-- Name: ix_result_base_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_result_base_key ON public.result USING btree (base_key);


--
-- Name: ix_result_job_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_result_job_id ON public.result USING btree (job_id);


--
-- Name: ix_result_model; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_result_model ON public.result USING btree (model);


--
-- Name: ix_result_model_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_result_model_key ON public.result USING btree (model_key);


--
-- Name: ix_sensitivitymap_job_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_sensitivitymap_job_id ON public.sensitivitymap USING btree (job_id);


--
-- Name: ix_sensitivitymap_model_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_sensitivitymap_model_key ON public.sensitivitymap USING btree (model_key);


--
-- Name: one_base_row_per_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX one_base_row_per_key ON public.result USING btree (base_key) WHERE is_base;


--
-- Name: generation generation_result_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generation
    ADD CONSTRAINT generation_result_id_fkey FOREIGN KEY (result_id) REFERENCES public.result(id);


--
-- Name: joblog joblog_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.joblog
    ADD CONSTRAINT joblog_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.job(id);


--
-- Name: ollama_import ollama_import_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ollama_import
    ADD CONSTRAINT ollama_import_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.job(id);


--
-- Name: ollama_import ollama_import_result_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ollama_import
    ADD CONSTRAINT ollama_import_result_id_fkey FOREIGN KEY (result_id) REFERENCES public.result(id);


--
-- Name: ollama_pending ollama_pending_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ollama_pending
    ADD CONSTRAINT ollama_pending_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.job(id);


--
-- PostgreSQL database dump complete
--


