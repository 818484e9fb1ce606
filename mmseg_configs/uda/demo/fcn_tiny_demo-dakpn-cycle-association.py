# DA-KPN (online, on the source half of each batch) + pixel-level cycle
# association. tools/train_uda.py --bundle replaces the bundle.
_base_ = ['./fcn_tiny_demo-cycle-association.py']
model = dict(translation=dict(
    _delete_=True, checkpoint={{_base_.bundle}}, prob=1.0))
